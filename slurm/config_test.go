package slurm

import "testing"

func TestConfigValue(t *testing.T) {
	// The shape of Slurm 22.05's "scontrol show config".
	out := []byte("Configuration data as of 2026-12-02T05:21:34\nAccountingStorageBackupHost = (null)\n" +
		"MaxArraySize            = 100001\nMaxJobCount             = 10000\nSchedulerParameters     = (null)\n")
	for key, want := range map[string]string{"MaxArraySize": "100001", "MaxJobCount": "10000", "SchedulerParameters": "(null)"} {
		if got, ok := ConfigValue(out, key); !ok || got != want {
			t.Errorf("ConfigValue(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := ConfigValue(out, "MaxArray"); ok {
		t.Errorf("a prefix of a key matched")
	}
}
