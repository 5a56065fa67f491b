package plan

import (
	"fmt"
	"strings"

	"migrator/lfs"
)

// createReminder is the line that reminds the admin to stop new objects landing on the
// source OSTs, with the real parameter names to set on every MDS. Each MDT reaches each
// OST through an OSP device named FSNAME-OSTxxxx-osc-MDTxxxx (lustre/osp/osp_dev.c,
// osp_init0: "New OSC name fsname-OSTXXXX-osc-MDTXXXX"), whose max_create_count
// (lustre/osp/lproc_osp.c, max_create_count_store) set to 0 stops precreation there.
func createReminder(fsname string, src lfs.OSTList) string {
	if fsname == "" {
		fsname = "FSNAME"
	}
	const most = 8 // more OSTs than this get a loop rather than one long lctl line
	cmd := ""
	if len(src) <= most {
		var params []string
		for _, o := range src {
			params = append(params, fmt.Sprintf("osp.%s-osc-MDT*.max_create_count=0", lfs.OSTName(fsname, o)))
		}
		cmd = "lctl set_param " + strings.Join(params, " ")
	} else {
		var idx []string
		for _, o := range src {
			idx = append(idx, fmt.Sprintf("%04x", o))
		}
		cmd = fmt.Sprintf("for i in %s; do lctl set_param osp.%s-OST$i-osc-MDT*.max_create_count=0; done", strings.Join(idx, " "), fsname)
	}
	return "reminder: stop new object creation on the source OSTs first, on every MDS: " + cmd +
		" (or new files will keep landing on them; migrator cannot check this from a client)"
}
