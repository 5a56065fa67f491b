package plan

import (
	"migrator/campaign"
	"migrator/cmd/cli"
)

// shareWithGroup makes the campaign directory (created if missing) readable by group.
func shareWithGroup(dir campaign.Dir, group string) error {
	gid, err := campaign.LookupGroup(group)
	if err != nil {
		return cli.BadInput(err)
	}
	if err := dir.Prepare(); err != nil {
		return cli.BadInput(err)
	}
	if err := dir.ShareWithGroup(gid); err != nil {
		return cli.BadInput(err)
	}
	return nil
}
