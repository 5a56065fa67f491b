package planner

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"migrator/campaign"
	"migrator/durable"
	"migrator/manifest"
)

// A round other than the plan's is built in a temporary directory beside the others,
// rounds/.tmp-NNN.RANDOM, and renamed to rounds/NNN only once its manifests and index are
// written and synced: a round directory is either complete or absent, and a command killed
// while building one leaves only a temporary directory, which the next one removes.
// Callers hold the campaign lock (launch.LockCampaign).

// StageRound prepares the temporary directory of round n of d and removes what killed
// attempts left behind. Write the round's manifests into the returned round's Manifests,
// then PublishRound it (or os.RemoveAll its Base to give up).
func StageRound(d campaign.Dir, n int) (campaign.Round, error) {
	if n < 1 {
		return campaign.Round{}, fmt.Errorf("round %d is not a retry round", n)
	}
	final := d.Round(n)
	parent := filepath.Dir(final.Base)
	if err := durable.MkdirAll(parent, 0o700); err != nil {
		return campaign.Round{}, err
	}
	if err := removeUnpublished(parent, final); err != nil {
		return campaign.Round{}, err
	}
	for _, p := range []string{d.Logs(), d.Reports()} {
		if err := durable.MkdirAll(p, 0o700); err != nil {
			return campaign.Round{}, err
		}
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	base := filepath.Join(parent, durable.TempPrefix+filepath.Base(final.Base)+"."+hex.EncodeToString(rnd[:]))
	r := campaign.Round{N: n, Base: base, Manifests: filepath.Join(base, "manifests"),
		Checkpoints: filepath.Join(base, "checkpoints"), JobScript: filepath.Join(base, "job.sbatch")}
	for _, p := range []string{r.Base, r.Manifests, r.Checkpoints} {
		if err := durable.MkdirAll(p, 0o700); err != nil {
			os.RemoveAll(base)
			return campaign.Round{}, err
		}
	}
	return r, nil
}

// PublishRound renames a staged round into place (rounds/NNN), after syncing its
// directories, and syncs rounds/. It returns the published round.
func PublishRound(d campaign.Dir, staged campaign.Round) (campaign.Round, error) {
	final := d.Round(staged.N)
	if _, err := os.Stat(filepath.Join(staged.Manifests, manifest.IndexFile)); err != nil {
		return campaign.Round{}, fmt.Errorf("round %d has no index: %w", staged.N, err)
	}
	for _, p := range []string{staged.Manifests, staged.Checkpoints, staged.Base} {
		if err := durable.SyncDir(p); err != nil {
			return campaign.Round{}, err
		}
	}
	if err := os.Rename(staged.Base, final.Base); err != nil {
		return campaign.Round{}, fmt.Errorf("publishing round %d: %w", staged.N, err)
	}
	return final, durable.SyncDir(filepath.Dir(final.Base))
}

// removeUnpublished removes the temporary round directories in parent, and final's
// directory if it is no round (no index): what a killed retry of this or an older release
// left. A directory without an index that holds a checkpoint log is refused, never removed.
func removeUnpublished(parent string, final campaign.Round) error {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && durable.IsTemp(e.Name()) {
			if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
				return err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(final.Manifests, manifest.IndexFile)); err == nil {
		return fmt.Errorf("round %d already exists (%s)", final.N, final.Base)
	}
	if _, err := os.Lstat(final.Base); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	logs, _ := filepath.Glob(filepath.Join(final.Checkpoints, "shard-*.log*"))
	if len(logs) > 0 {
		return fmt.Errorf("%s has checkpoint logs (%s) but no manifest index; move it away by hand", final.Base, strings.Join(logs, ", "))
	}
	return os.RemoveAll(final.Base)
}
