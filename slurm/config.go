package slurm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ConfigValue finds KEY in the output of "scontrol show config" ("KEY = VALUE" lines).
func ConfigValue(out []byte, key string) (string, bool) {
	for line := range strings.SplitSeq(string(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// MaxArraySize asks the controller (scontrol show config) for MaxArraySize: array task
// indices must be below it (man slurm.conf), so an array of 0-N needs N < MaxArraySize. It
// fails when Slurm is not installed or the controller does not answer. 0 means arrays are
// disabled.
func (c *Client) MaxArraySize(ctx context.Context) (int, error) {
	out, err := c.run(ctx, nil, "scontrol", "show", "config")
	if err != nil {
		return 0, err
	}
	v, ok := ConfigValue(out, "MaxArraySize")
	if !ok {
		return 0, fmt.Errorf("scontrol show config: no MaxArraySize")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("scontrol show config: MaxArraySize %q is not a number", v)
	}
	return n, nil
}
