package planner

import (
	"context"

	"migrator/campaign"
	"migrator/manifest"
)

// TopUpRound makes the next round of a campaign for plan --update: the latest round's
// retry set (its retryable failures and pending entries, as retry takes them), then every
// entry sweep writes: the files a sweep found on a source OST that no round will handle.
// Those new to the campaign are flagged manifest.EntryAdded; for those an earlier round
// holds (failed, or recorded as done), sweep returns where, and the round's supersedes
// file says it takes them over. Earlier rounds' checkpoints are not touched.
//
// The round is published atomically: it exists for every other command only once its
// manifest index is written, last. This is the one function that publishes a top-up
// round, so a campaign-level lock can wrap it.
func TopUpRound(ctx context.Context, d campaign.Dir, spec *campaign.Spec, sweep func(write func(*manifest.Entry) error) ([]manifest.Origin, error)) (int, manifest.Index, error) {
	n, idx, _, err := nextRound(ctx, d, spec, campaign.Takeover{Failed: campaign.DefaultFailed}, sweep)
	return n, idx, err
}
