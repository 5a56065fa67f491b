package progress

import "fmt"

// Plural is a count and its noun for people: "1 shard", "2 shards", "0 shards". Nouns
// whose plural is not noun+"s" are not used with it.
func Plural[N ~int | ~int64 | ~uint64 | ~uint32](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
