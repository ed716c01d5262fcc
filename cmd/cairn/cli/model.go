package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/attest/oci"
)

func newModelCmd(a *app) *cobra.Command {
	return groupCmd("model", "Push, pull, inspect and list model artifacts in OCI registries",
		`Models are OCI artifacts in the CNCF ModelPack format: one layer per file,
annotated with its path (docs/artifacts.md). REF is a registry reference
(host/repo:tag or host/repo@sha256:...), an OCI image layout (oci:PATH[:tag]),
or a bare name:tag in the default store, the layout .cairn/oci of the current
repository. Registry credentials come from the Docker configuration and its
credential helpers.`,
		newModelPushCmd(a), newModelPullCmd(a), newModelInspectCmd(a), newModelLsCmd(a))
}

// registryFlags are the flags of every command that reaches a registry.
type registryFlags struct {
	insecure    bool
	quiet       bool
	concurrency int
}

func (f *registryFlags) add(cmd *cobra.Command, transfers bool) {
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS (loopback registries)")
	if transfers {
		cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
		cmd.Flags().IntVar(&f.concurrency, "concurrency", 4, "files hashed and blobs sent or received at once")
	}
}

func (f *registryFlags) options() oci.Options {
	return oci.Options{Insecure: f.insecure, Concurrency: f.concurrency}
}

// repoRoot is the root of the repository holding the working folder (the
// folder holding .git), or the working folder: the default store lives
// in its .cairn/oci.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return wd, nil
		}
	}
}

func parseRef(s string) (oci.Ref, error) {
	root, err := repoRoot()
	if err != nil {
		return oci.Ref{}, err
	}
	ref, err := oci.ParseRef(s, root)
	if err != nil {
		return oci.Ref{}, usageError{err, ""}
	}
	return ref, nil
}

// progressBar returns a progress callback drawing bytes, rate and ETA on
// w for a transfer of total bytes, or nil when w is not a terminal or
// quiet is set; done stops it.
func progressBar(w io.Writer, quiet bool, total int64, what string) (func(oci.Progress), func()) {
	if quiet || !isTerminal(w) || total == 0 {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	var mu sync.Mutex
	seen := map[string]int64{}
	fn := func(p oci.Progress) {
		mu.Lock()
		defer mu.Unlock()
		var done int64
		switch p.Phase {
		case oci.PhaseUpload, oci.PhaseDownload:
			done = p.Bytes
		case oci.PhaseSkip, oci.PhaseDone:
			done = p.Size
		default:
			return
		}
		if p.Path == "" { // the config blob is not in the total
			return
		}
		if d := done - seen[p.Path]; d > 0 {
			seen[p.Path] = done
			bar.Add64(d)
		}
	}
	return fn, func() { bar.Finish() }
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func newModelPushCmd(a *app) *cobra.Command {
	var rf registryFlags
	var opts oci.PushOptions
	cmd := &cobra.Command{
		Use:   "push DIR REF",
		Short: "Pack the files of DIR as a model artifact and push it to REF",
		Long: `Push packs every file under DIR as one layer of a ModelPack artifact (the
same files give the same manifest digest on every machine), sends the
blobs the target lacks, several at once, retrying transient errors, and
writes the tag only once every blob and the manifest are stored.

A file pushed before and unchanged since (same size, times and inode) is
not read again: its digest comes from the digest cache in the user's cache
folder ($CAIRN_CACHE_DIR/digests; CAIRN_CACHE_DIR=off disables it). A new
file is streamed and hashed on the way, so it is read once.`,
		Example: `  cairn model push ./model registry.example.com/ml/fraud:v3 --format xgboost
  cairn model push ./model fraud:v3                      # the repository's .cairn/oci
  cairn model push ./model oci:/tmp/layout:v3
  cairn model push ./model 127.0.0.1:5000/ml/fraud:v3 --insecure`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[1])
			if err != nil {
				return err
			}
			opts.Options = rf.options()
			opts.DigestCache = cacheDir("digests")
			progress, done := progressBar(cmd.ErrOrStderr(), rf.quiet, dirSize(args[0]), "push")
			opts.Progress = progress
			ctx, sig := catchSignals()
			defer sig.stop()
			res, err := oci.Push(ctx, args[0], ref, opts)
			done()
			if s := sig.caught(); s != nil && err != nil {
				return interrupted(cmd, s, fmt.Sprintf("pushing %s", ref), "no tag was moved")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", res.Ref)
			if !rf.quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "pushed %d files: %s sent, %s already there\n", len(res.Files), bytesText(res.Uploaded), bytesText(res.Skipped))
			}
			return nil
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringVar(&opts.Name, "name", "", "the model's name (default: the repository's last element)")
	cmd.Flags().StringVar(&opts.Version, "version", "", "the model's version")
	cmd.Flags().StringVar(&opts.Format, "format", "", "the weights' format (default: from the weight files' extensions)")
	cmd.Flags().StringVar(&opts.Framework, "framework", "", "the framework that trained the model")
	return cmd
}

func newModelPullCmd(a *app) *cobra.Command {
	var rf registryFlags
	var include []string
	cmd := &cobra.Command{
		Use:   "pull REF DIR",
		Short: "Pull a model artifact into DIR",
		Long: `Pull writes the model's files under DIR, checking every blob's digest as it
is written. Paths that are absolute, contain "..", pass through a symbolic
link or repeat another file are refused. The files are written to a new
folder that then becomes DIR, so a failed pull leaves nothing.`,
		Example: `  cairn model pull registry.example.com/ml/fraud:v3 ./model
  cairn model pull fraud:v3 ./model --include 'config.json' --include 'tokenizer/**'`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			ctx, sig := catchSignals()
			defer sig.stop()
			var total int64
			if !rf.quiet && isTerminal(cmd.ErrOrStderr()) {
				if art, err := oci.Inspect(ctx, ref, rf.options()); err == nil {
					total = art.Size
				}
			}
			progress, done := progressBar(cmd.ErrOrStderr(), rf.quiet, total, "pull")
			o := oci.PullOptions{Options: rf.options(), Include: include}
			o.Progress = progress
			art, err := oci.Pull(ctx, ref, args[1], o)
			done()
			if s := sig.caught(); s != nil && err != nil {
				return interrupted(cmd, s, fmt.Sprintf("pulling %s", ref), fmt.Sprintf("%s was not written", args[1]))
			}
			if err != nil {
				return err
			}
			if !rf.quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "pulled %s into %s\n", art.Ref, args[1])
			}
			return nil
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringArrayVar(&include, "include", nil, "pull only the files matching this pattern (path.Match syntax, ** for any folders); repeatable")
	return cmd
}

func newModelInspectCmd(a *app) *cobra.Command {
	var rf registryFlags
	var output string
	cmd := &cobra.Command{
		Use:     "inspect REF",
		Short:   "Show a model artifact's manifest, config and files",
		Example: "  cairn model inspect registry.example.com/ml/fraud:v3\n  cairn model inspect fraud:v3 -o json",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("inspect: -o %q: want text or json", output), cmd.CommandPath()}
			}
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			art, err := oci.Inspect(context.Background(), ref, rf.options())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return writeJSON(w, art)
			}
			fmt.Fprintf(w, "reference:  %s\n", art.Ref)
			fmt.Fprintf(w, "manifest:   %s (%s, %d bytes)\n", art.Descriptor.Digest, art.Descriptor.MediaType, art.Descriptor.Size)
			if art.Manifest != nil {
				fmt.Fprintf(w, "type:       %s\n", art.Manifest.ArtifactType)
				fmt.Fprintf(w, "config:     %s (%s, %d bytes)\n", art.Manifest.Config.Digest, art.Manifest.Config.MediaType, art.Manifest.Config.Size)
			}
			fmt.Fprintf(w, "files:      %d, %s\n\n", len(art.Files), bytesText(art.Size))
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PATH\tKIND\tSIZE\tDIGEST")
			for _, f := range art.Files {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.Path, f.Kind, f.Size, f.Digest)
			}
			return tw.Flush()
		},
	}
	rf.add(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newModelLsCmd(a *app) *cobra.Command {
	var rf registryFlags
	var output string
	cmd := &cobra.Command{
		Use:   "ls [REPO]",
		Short: "List the tags of a model repository with their digests",
		Long: `Ls lists the tags of REPO with their digests; without REPO, every model
in the default store (.cairn/oci of the current repository).`,
		Example: "  cairn model ls registry.example.com/ml/fraud\n  cairn model ls fraud -o json\n  cairn model ls",
		Args:    rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("ls: -o %q: want text or json", output), cmd.CommandPath()}
			}
			refs, err := modelRefs(args)
			if err != nil {
				return err
			}
			type row struct {
				Model  string `json:"model"`
				Tag    string `json:"tag"`
				Digest string `json:"digest"`
			}
			rows := []row{}
			for _, ref := range refs {
				tags, err := oci.List(context.Background(), ref, rf.options())
				if err != nil {
					return err
				}
				for _, t := range tags {
					rows = append(rows, row{ref.String(), t.Name, t.Digest.String()})
				}
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return writeJSON(w, rows)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tTAG\tDIGEST")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Model, r.Tag, r.Digest)
			}
			return tw.Flush()
		},
	}
	rf.add(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// modelRefs returns the repository an argument names, or every model in
// the default store without one.
func modelRefs(args []string) ([]oci.Ref, error) {
	if len(args) == 1 {
		ref, err := parseRef(args[0])
		return []oci.Ref{ref}, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	return oci.LocalModels(root)
}

// signals catches SIGINT and SIGTERM for a transfer: the first cancels
// the transfer's context, so it removes what it wrote, and stops
// catching them, so that a second one ends the process at once.
type signals struct {
	ch     chan os.Signal
	mu     sync.Mutex
	sig    os.Signal
	cancel context.CancelFunc
}

// catchSignals starts catching SIGINT and SIGTERM and returns the context
// the first one cancels.
func catchSignals() (context.Context, *signals) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &signals{ch: make(chan os.Signal, 1), cancel: cancel}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-s.ch
		if !ok {
			return
		}
		signal.Stop(s.ch)
		s.mu.Lock()
		s.sig = sig
		s.mu.Unlock()
		cancel()
	}()
	return ctx, s
}

// caught returns the signal caught, or nil.
func (s *signals) caught() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig
}

// stop stops catching signals.
func (s *signals) stop() {
	signal.Stop(s.ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sig == nil {
		close(s.ch)
	}
	s.cancel()
}

// interrupted reports a transfer ended by a signal and returns the exit
// code 128 plus the signal's number, as a shell reports it.
func interrupted(cmd *cobra.Command, sig os.Signal, what, left string) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "cairn: %s: interrupted by %s; removed the partial files, %s\n", what, signalName(sig), left)
	code := 128 + 2
	if n, ok := sig.(syscall.Signal); ok {
		code = 128 + int(n)
	}
	return silentError{code}
}

// signalName names a signal as kill(1) does.
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// bytesText writes a byte count for people.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
