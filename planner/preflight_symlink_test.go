package planner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
)

// An exclude reached through a symbolic link inside a scan path excludes nothing: lfs find
// does not follow the link, so the directory it points to is scanned under its real name
// and migrated. CheckPaths accepted it (the path exists and is under the scan path).
func TestCheckPathsExcludeThroughSymlink(t *testing.T) {
	root := t.TempDir()
	scan := filepath.Join(root, "fs")
	frozen := filepath.Join(scan, "projects", "frozen")
	if err := os.MkdirAll(filepath.Join(frozen, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{frozen, filepath.Join(scan, "frozen-link")}, {scan, filepath.Join(root, "alias")}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	alias := filepath.Join(root, "alias")
	camp := filepath.Join(root, "campaign")
	for _, tc := range []struct {
		scan, exclude, want string // want: "" for accepted, else the exclude to give instead
	}{
		{scan, frozen, ""},
		{scan, filepath.Join(scan, "frozen-link"), frozen},
		{scan, filepath.Join(scan, "frozen-link", "sub"), filepath.Join(frozen, "sub")},
		{alias, filepath.Join(alias, "projects", "frozen"), ""}, // the scan path's own link is walked by its name
		{alias, filepath.Join(alias, "frozen-link"), filepath.Join(alias, "projects", "frozen")},
	} {
		req := campaign.Request{Selection: campaign.Selection{ScanPaths: campaign.Paths([]string{tc.scan}),
			Excludes: campaign.Paths([]string{tc.exclude})}}
		err := CheckPaths(req, camp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("scan %s exclude %s: %v", tc.scan, tc.exclude, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.HasSuffix(err.Error(), "--exclude "+tc.want)):
			t.Errorf("scan %s exclude %s: %v, want an error saying it goes through a symbolic link, ending --exclude %s", tc.scan, tc.exclude, err, tc.want)
		}
	}
}

// The campaign directory inside a scan path is refused where the scan really reaches it:
// a scan path given through a link (/alias → /fs) still reaches /fs/admin/campaign, which
// was accepted, and the campaign planned its own campaign.json for migration; a campaign
// behind a link inside a scan path (/fs/link → /elsewhere) is never reached, and was
// refused with advice (--exclude the link) that the exclude check refuses.
func TestCheckPathsCampaignWhereTheScanGoes(t *testing.T) {
	root := t.TempDir()
	scan := filepath.Join(root, "fs")
	for _, d := range []string{filepath.Join(scan, "admin"), filepath.Join(root, "elsewhere")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	alias := filepath.Join(root, "alias")
	for _, l := range [][2]string{{scan, alias}, {filepath.Join(root, "elsewhere"), filepath.Join(scan, "out")}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		scan, camp, exclude string
		refused             bool
	}{
		{scan, filepath.Join(scan, "admin", "c"), "", true},
		{alias, filepath.Join(scan, "admin", "c"), "", true},
		{scan, filepath.Join(alias, "admin", "c"), "", true},
		{alias, filepath.Join(scan, "admin", "c"), filepath.Join(alias, "admin"), false},
		{scan, filepath.Join(scan, "out", "c"), "", false},
		{scan, filepath.Join(root, "elsewhere", "c"), "", false},
	} {
		req := campaign.Request{Selection: campaign.Selection{ScanPaths: campaign.Paths([]string{tc.scan})}}
		if tc.exclude != "" {
			req.Selection.Excludes = campaign.Paths([]string{tc.exclude})
		}
		err := CheckPaths(req, tc.camp)
		if refused := err != nil && strings.Contains(err.Error(), "inside a scan path"); refused != tc.refused || (err != nil && !refused) {
			t.Errorf("scan %s, campaign %s, exclude %q: %v, want refused %v", tc.scan, tc.camp, tc.exclude, err, tc.refused)
		}
	}
}
