package plan

import (
	"strings"
	"testing"

	"migrator/lfs"
)

func TestCreateReminder(t *testing.T) {
	tests := []struct {
		fsname string
		src    lfs.OSTList
		want   string
	}{
		{"lustre", lfs.OSTList{2}, "lctl set_param osp.lustre-OST0002-osc-MDT*.max_create_count=0 (or"},
		{"simfs", lfs.OSTList{10, 31}, "lctl set_param osp.simfs-OST000a-osc-MDT*.max_create_count=0 osp.simfs-OST001f-osc-MDT*.max_create_count=0 (or"},
		{"", lfs.OSTList{3}, "osp.FSNAME-OST0003-osc-MDT*.max_create_count=0"},
		{"big", lfs.OSTList{0, 1, 2, 3, 4, 5, 6, 7, 8, 300},
			"for i in 0000 0001 0002 0003 0004 0005 0006 0007 0008 012c; do lctl set_param osp.big-OST$i-osc-MDT*.max_create_count=0; done (or"},
	}
	for _, tt := range tests {
		got := createReminder(tt.fsname, tt.src)
		if !strings.Contains(got, tt.want) || strings.Contains(got, "\n") || !strings.HasPrefix(got, "reminder: ") {
			t.Errorf("%s %v:\n got %q\nwant it to contain %q", tt.fsname, tt.src, got, tt.want)
		}
	}
}
