package status

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/distscan"
	"migrator/report"
)

// What status says of a distributed scan at each stage, and whether --watch goes on.
func TestScanView(t *testing.T) {
	d := campaign.Dir{Root: "/c/drain"}
	scan := JobView{JobID: "10", Kind: campaign.KindScan, InQueue: true, Running: 2}
	seal := JobView{JobID: "11", Kind: campaign.KindSeal, InQueue: true, Pending: 1}
	heldSeal := JobView{JobID: "11", Kind: campaign.KindSeal, InQueue: true, Held: 1}
	gone := func(j JobView) JobView { j.InQueue, j.Running, j.Pending, j.Held = false, 0, 0, 0; return j }
	for _, tc := range []struct {
		name     string
		pr       distscan.Progress
		jobs     []JobView
		want     string
		finished bool
	}{
		{"scanning", distscan.Progress{Tasks: 2, Units: 5, Done: 1, Scanning: 2}, []JobView{scan, seal},
			"scanning: 1 of 5 units done, 2 being scanned; seal job 11 waiting for the scan\n" +
				"scan job 10 (round 0): 2 running, 0 pending, 0 held\nseal job 11 (round 0): 0 running, 1 pending, 0 held\n", false},
		{"paused", distscan.Progress{Tasks: 2, Units: 5, Done: 3}, []JobView{{JobID: "10", Kind: campaign.KindScan, InQueue: true, Held: 2}, heldSeal},
			"scanning: 3 of 5 units done, 0 being scanned; seal job 11 held\n" +
				"scan job 10 (round 0): 0 running, 0 pending, 2 held\nseal job 11 (round 0): 0 running, 0 pending, 1 held\n", false},
		{"a dead task's claim", distscan.Progress{Tasks: 2, Units: 5, Done: 3, Scanning: 1, Stale: 1}, []JobView{scan, seal},
			"scanning: 3 of 5 units done, 1 being scanned, 1 claimed by tasks that died (scanned again by the next task or the seal); seal job 11 waiting for the scan\n" +
				"scan job 10 (round 0): 2 running, 0 pending, 0 held\nseal job 11 (round 0): 0 running, 1 pending, 0 held\n", false},
		{"cancelled", distscan.Progress{Tasks: 2, Units: 5, Done: 3}, []JobView{gone(scan), gone(seal)},
			"scanning: 3 of 5 units done, 0 being scanned\n" +
				"the scan is stopped (nothing of it is queued or running); the units done are kept; continue it with: migrator retry /c/drain\n" +
				"seal job 11 ended without sealing: if it was not cancelled, logs/seal-11.out says why\n" +
				"scan job 10 (round 0): no longer in the queue\nseal job 11 (round 0): no longer in the queue\n", true},
		// Every unit scanned, the seal cancelled before it wrote round 0: the same advice
		// as cancel gave (migrator retry), which seals and submits round 0.
		{"seal cancelled", distscan.Progress{Tasks: 2, Units: 5, Done: 5}, []JobView{gone(scan), gone(seal)},
			"scanning: 5 of 5 units done, 0 being scanned\n" +
				"the scan is stopped (nothing of it is queued or running); the units done are kept; continue it with: migrator retry /c/drain\n" +
				"seal job 11 ended without sealing: if it was not cancelled, logs/seal-11.out says why\n" +
				"scan job 10 (round 0): no longer in the queue\nseal job 11 (round 0): no longer in the queue\n", true},
		// A campaign run with --scheduler local has no job: stopped, it is continued the
		// same way (retry uses the campaign's scheduler), as cancel and plan say.
		{"local, stopped", distscan.Progress{Tasks: 2, Units: 5, Done: 3}, nil,
			"scanning: 3 of 5 units done, 0 being scanned\n" +
				"the scan is stopped (nothing of it is queued or running); the units done are kept; continue it with: migrator retry /c/drain\n", true},
		{"local, running", distscan.Progress{Tasks: 2, Units: 5, Done: 3, Scanning: 2}, nil,
			"scanning: 3 of 5 units done, 2 being scanned\n", false},
		{"sealed", distscan.Progress{Tasks: 2, Units: 5, Done: 5, Sealed: true}, []JobView{gone(scan), gone(seal)},
			"distributed scan: sealed (5 units, 2 tasks)\nscan job 10 (round 0): no longer in the queue\nseal job 11 (round 0): no longer in the queue\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &View{Status: &report.Status{}, Jobs: tc.jobs, Scan: &ScanView{Progress: tc.pr}}
			scanNext(d, v)
			var b bytes.Buffer
			writeScan(&b, v)
			for _, j := range v.Jobs {
				writeJob(&b, j)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if got := finished(v); got != tc.finished {
				t.Errorf("finished = %v, want %v", got, tc.finished)
			}
		})
	}
}
