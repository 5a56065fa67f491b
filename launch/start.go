package launch

import (
	"context"
	"fmt"
	"io"
	"time"

	"migrator/slurm"
)

// How says how a retry round (or plan --go's) is launched.
type How struct {
	Emit     bool // write the job script to Stdout, for sbatch
	NoSubmit bool // print the sbatch commands
	Local    bool // run it here (RunLocal), else submit it to Slurm
	Progress time.Duration
	// Continue is the command that continues an interrupted local run; Resubmit the one
	// that submits the prepared round when submitting failed.
	Continue, Resubmit string
	Out, Stdout        io.Writer // messages; the script, commands or job id
}

// Start writes a round's scripts and launches it as h says. Rounds after the plan's have
// no collect job of their own to finish: a failed submission is retried whole.
func Start(ctx context.Context, r Round, h How) error {
	script, err := WriteScripts(r)
	if err != nil {
		return err
	}
	switch {
	case h.Emit:
		fmt.Fprintf(h.Out, "round %d job script on stdout (also in %s)\n", r.N, r.Dir.Round(r.N).JobScript)
		_, err := h.Stdout.Write(script)
		return err
	case h.NoSubmit:
		fmt.Fprintf(h.Out, "not submitted; to submit:\n")
		fmt.Fprintln(h.Stdout, SbatchCommands(r))
		return nil
	case h.Local:
		return RunLocal(ctx, h.Out, r, r.Spec.Slurm.Throttle, h.Progress, h.Continue)
	}
	arrayID, collectID, err := Slurm(ctx, slurm.New(), r)
	if err != nil {
		return fmt.Errorf("%w (round %d is prepared; %s submits it)", err, r.N, h.Resubmit)
	}
	fmt.Fprintf(h.Out, "submitted round %d as job array %s (%d tasks) and collect job %s (afterany:%s)\n",
		r.N, arrayID, r.Shards, collectID, arrayID)
	fmt.Fprintln(h.Stdout, arrayID)
	return nil
}
