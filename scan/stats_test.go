package scan

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// Add sums every counter: one left out (a field added to Stats and forgotten in Add) fails
// here, since every field is set to a distinct value and must come out doubled.
func TestStatsAdd(t *testing.T) {
	var a, b Stats
	for _, s := range []*Stats{&a, &b} {
		v := reflect.ValueOf(s).Elem()
		for i := 0; i < v.NumField(); i++ {
			v.Field(i).Addr().Interface().(*atomic.Int64).Store(int64(i + 1))
		}
	}
	a.Add(&b)
	v := reflect.ValueOf(&a).Elem()
	for i := 0; i < v.NumField(); i++ {
		if got := v.Field(i).Addr().Interface().(*atomic.Int64).Load(); got != int64(2*(i+1)) {
			t.Errorf("Stats.%s after Add: %d, want %d", v.Type().Field(i).Name, got, 2*(i+1))
		}
	}
}
