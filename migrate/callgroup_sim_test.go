package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/internal/testbin"
	"migrator/lfs"
	"migrator/lfssim"
	"migrator/manifest"
)

// goneLFS is the real client on lfs-sim; before the first lfs path2fid it removes the
// files in removeP2F, before the first lfs hsm_state those in remove: files gone between a
// group's first walk and these calls.
type goneLFS struct {
	*lfs.Client
	remove, removeP2F []string
}

func (g *goneLFS) PathToFID(ctx context.Context, files []string) ([]lfs.FIDResult, error) {
	for _, p := range g.removeP2F {
		os.Remove(p)
	}
	g.removeP2F = nil
	return g.Client.PathToFID(ctx, files)
}

func (g *goneLFS) HSMStates(ctx context.Context, files []string) ([]lfs.HSMResult, error) {
	for _, p := range g.remove {
		os.Remove(p)
	}
	g.remove = nil
	return g.Client.HSMStates(ctx, files)
}

// On the real client and lfs-sim, before 2.16 (lfs hsm_state stops at the first file it
// fails on) and from 2.16: in one group, a file whose HSM state cannot be read, one gone
// before the group's lfs hsm_state and one released are each judged on their own, and the
// files after them in the group are bound as if alone.
func TestGroupHSMFailureOnSimulatorVersions(t *testing.T) {
	bin := testbin.Build(t, "cmd/lfs-sim")
	for _, v := range []string{"2.15.0", "2.16.0"} {
		t.Run(v, func(t *testing.T) {
			env := append([]string{"LFS_SIM_VERSION=" + v}, swapSimEnv...)
			cfg := swapSimConfig(t)
			dir := t.TempDir()
			const n = 9
			var es []manifest.Entry
			for i := 0; i < n; i++ {
				p := filepath.Join(dir, fmt.Sprintf("f%d", i))
				write(t, p)
				fid, err := lfssim.FIDOf(p)
				must(t, err)
				es = append(es, manifest.Entry{Path: p, FID: fid, Size: 10, OSTs: []uint32{1}})
			}
			// 1: HSM state unreadable; 3: gone before the group's lfs hsm_state; 5: released; 7:
			// gone before its lfs path2fid.
			must(t, unix.Lsetxattr(es[1].Path, "user.lfs_sim.hsm", []byte("garbage"), 0))
			must(t, lfssim.Release(cfg, es[5].Path, 1))
			l := &goneLFS{Client: lfs.New(bin).WithEnv(env...), remove: []string{es[3].Path},
				removeP2F: []string{es[7].Path}}
			sel := campaign.Selection{OSTs: "1", ScanPaths: []campaign.Path{campaign.Path(dir)}}
			rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
			var st Stats
			tk := newTask(context.Background(), context.Background(), l, State{Done: checkpoint.NewDone(n)}, rec,
				Options{Selection: sel, Workers: n}, &st)
			tk.inflight = n
			it := make([]*item, n)
			g := &callGroup{}
			for i := range es {
				it[i] = &item{idx: uint64(i), e: es[i]}
				g.units = append(g.units, []*item{it[i]})
			}
			tk.runGroup(g)

			if err := tk.fatalErr(); err != nil {
				t.Fatalf("the task stopped: %v", err)
			}
			want := [][]*item{{it[0]}, nil, {it[2]}, nil, {it[4]}, nil, {it[6]}, nil, {it[8]}}
			if diff := cmp.Diff(want, g.ready, cmp.AllowUnexported(item{})); diff != "" {
				t.Errorf("calls ready (-want +got):\n%s", diff)
			}
			got := outcomes(rec)
			if r := got[1]; r.Outcome != checkpoint.Failed || r.Class == lfs.ClassSwapped {
				t.Errorf("f1 (HSM state unreadable): %+v; want failed, not swapped", r)
			}
			delete(got, 1)
			wantRecs := map[uint64]groupOutcome{5: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipReleased}}
			if diff := cmp.Diff(wantRecs, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			tk.mu.Lock()
			requeued := len(tk.retries) == 2 && tk.retries[0] == it[3] && tk.retries[1] == it[7]
			tk.mu.Unlock()
			if !requeued {
				t.Errorf("f3 and f7 (gone) were not put back to be looked for by FID")
			}
			for i := range es {
				if a := rec.attempts[uint64(i)]; (a == 1) != (want[i] != nil) {
					t.Errorf("entry %d: %d attempt records", i, a)
				}
			}
		})
	}
}
