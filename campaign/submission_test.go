package campaign

import (
	"sync"
	"testing"
)

// Every task of a hand-submitted array tries to record it at once; exactly one record lands.
func TestAppendSubmissionOnceRace(t *testing.T) {
	d := Dir{Root: t.TempDir()}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.AppendSubmissionOnce(Submission{Kind: "array", JobID: "525", Shards: i, By: "task"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := d.AppendSubmissionOnce(Submission{Kind: "array", JobID: "526", By: "task"}); err != nil {
		t.Fatal(err)
	}
	subs, err := d.Submissions()
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].JobID != "525" || subs[1].JobID != "526" {
		t.Fatalf("submissions %+v, want 525 once then 526", subs)
	}
}
