package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/checkpoint"
)

// A second taker of the campaign lock is refused at once, naming the holder, with an error
// that commands map to exit 6; once released, the lock can be taken again.
func TestLockCampaign(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	l, err := LockCampaign(d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockCampaign(d)
	if !errors.Is(err, ErrCampaignBusy) || !errors.Is(err, checkpoint.ErrLocked) ||
		!strings.Contains(err.Error(), filepath.Join(d.Root, CampaignLock)) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("second taker: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Root, CampaignLock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock left after release: %v", err)
	}
	l2, err := LockCampaign(d)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}
