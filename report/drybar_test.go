package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A finished dry run checked every file: its bar said "0.0% of 151 files handled" (would
// migrate counts as pending) while the local runner's progress said 151/151 and status
// --watch ended, since every file was checked. The bar now counts checked files.
func TestHumanDryRunBar(t *testing.T) {
	st := &Status{Campaign: "c", DryRun: true, Generated: time.Unix(0, 0)}
	st.Files.Planned, st.Files.Pending, st.Files.WouldMigrate, st.Files.Skipped = 4, 3, 3, 1
	var b bytes.Buffer
	WriteHuman(&b, st, nil)
	if want := "100.0% of 4 files checked"; !strings.Contains(b.String(), want) {
		t.Errorf("dry run's bar does not say %q:\n%s", want, b.String())
	}
	st.DryRun = false
	st.Files.WouldMigrate = 0
	b.Reset()
	WriteHuman(&b, st, nil)
	if want := " 25.0% of 4 files handled"; !strings.Contains(b.String(), want) {
		t.Errorf("real run's bar does not say %q:\n%s", want, b.String())
	}
}
