package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"migrator/campaign"
	"migrator/checkpoint"
)

// CampaignLock is the lock file, in the campaign directory, held by a command that makes
// a new round (retry, plan --update) from the moment it reads the latest round until the
// new round is submitted, or has run when it runs here: one round at a time.
const CampaignLock = "campaign.lock"

// ErrCampaignBusy is matched (errors.Is) when another command holds the campaign lock; it
// also matches checkpoint.ErrLocked, so commands exit 6 like work on a locked shard.
var ErrCampaignBusy = errors.New("another retry or plan --update holds the campaign")

type busyError struct{ err error }

func (e busyError) Error() string {
	return fmt.Sprintf("%v: %v; wait for it to end", ErrCampaignBusy, e.err)
}
func (e busyError) Is(target error) bool { return target == ErrCampaignBusy }
func (e busyError) Unwrap() error        { return e.err }

// LockCampaign takes the campaign lock of d for this process, or fails at once with an
// error matching ErrCampaignBusy (and checkpoint.ErrLocked) that names the holder. A lock
// whose holder is gone is broken as a shard's is (see checkpoint.AcquireLock). Release it
// when the round is launched.
func LockCampaign(d campaign.Dir) (*checkpoint.Lock, error) {
	l, err := checkpoint.AcquireLock(filepath.Join(d.Root, CampaignLock), checkpoint.CurrentHolder(os.Getenv), checkpoint.LockOptions{})
	if errors.Is(err, checkpoint.ErrLocked) {
		return nil, busyError{err}
	}
	return l, err
}
