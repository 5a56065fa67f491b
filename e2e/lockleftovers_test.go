package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"migrator/lfssim"
)

// A plan killed (kill -9) while it took or broke the plan lock, before it wrote
// campaign.json, leaves what the lock protocol was making: a break marker naming the dead
// breaker, the temporary file of a lock or marker being created, a clock probe. The rerun
// of the same plan must complete: these are the lock's, not someone else's campaign.
func TestPlanAfterKilledLockTake(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20, Seed: 3})
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	holder := fmt.Sprintf(`{"host":%q,"pid":%d,"pid_start":1,"task":-1,"restart":0,"token":"%s"}`+"\n", host, dead.Process.Pid, "0123456789abcdef01234567")
	for _, left := range []string{
		"plan.lock.stale-89abcdef0123456789abcdef",                                // killed after removing the lock, before its marker
		"plan.lock.stale-89abcdef0123456789abcdef.stale-0123456789abcdef01234567", // killed breaking a dead breaker's marker
		".tmp-plan.lock.0123456789ab",                                             // killed creating the lock
		".tmp-plan.lock.stale-89abcdef0123456789abcdef.0123456789ab",              // killed creating a marker
		".tmp-clock.0123456789ab",                                                 // killed reading the filesystem's clock
	} {
		t.Run(left, func(t *testing.T) {
			e2 := *e
			e2.camp = filepath.Join(e.root, "c-"+left)
			if err := os.Mkdir(e2.camp, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(e2.camp, left), []byte(holder), 0o600); err != nil {
				t.Fatal(err)
			}
			r := e2.run(e2.planArgs("--no-submit")...)
			if r.code != 0 {
				t.Fatalf("rerun of a plan killed while it took its lock: exit %d\n%s", r.code, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(e2.camp, "campaign.json")); err != nil {
				t.Errorf("no campaign: %v", err)
			}
		})
	}
}
