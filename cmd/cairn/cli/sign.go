package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/sign"

	"cairn.dev/cairn/internal/atomicfile"
)

// Password environment variables, Cairn's first.
const (
	envPassword       = "CAIRN_PASSWORD"
	envCosignPassword = "COSIGN_PASSWORD"
)

func newKeyCmd(a *app) *cobra.Command {
	return groupCmd("key", "Make cosign key pairs for signing models",
		`Keys are cosign's: an ECDSA P-256 private key encrypted with a password
(scrypt and NaCl secretbox, "ENCRYPTED SIGSTORE PRIVATE KEY") and its public
key in PEM. Keys made by "cosign generate-key-pair" work too.`,
		newKeyGenerateCmd(a))
}

func newKeyGenerateCmd(a *app) *cobra.Command {
	var (
		prefix string
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a new key pair: PREFIX.key (private, encrypted) and PREFIX.pub",
		Long: `Generate writes a new key pair in cosign's format: PREFIX.key, the private key
encrypted with a password (mode 0600), and PREFIX.pub, the public key. The
password comes from CAIRN_PASSWORD, else COSIGN_PASSWORD, else a prompt on
the terminal. Existing files are kept unless --force is given.`,
		Example: `  CAIRN_PASSWORD=... cairn key generate
  cairn key generate --prefix release   # release.key, release.pub`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if prefix == "" {
				return usageError{errors.New("key generate: --prefix is empty"), cmd.CommandPath()}
			}
			keyFile, pubFile := prefix+".key", prefix+".pub"
			if !force {
				for _, f := range []string{keyFile, pubFile} {
					if _, err := os.Lstat(f); err == nil {
						return fmt.Errorf("%s exists; keeping it (use --force to replace it)", f)
					}
				}
			}
			password, err := readPassword(cmd, true)
			if err != nil {
				return err
			}
			priv, pub, err := sign.GenerateKeyPair(password)
			if err != nil {
				return internalError{err}
			}
			if err := writeKeyFile(keyFile, priv, 0o600); err != nil {
				return err
			}
			if err := writeKeyFile(pubFile, pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private key) and %s (public key)\n", keyFile, pubFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "cosign", "the key files' name, without .key and .pub")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing key files")
	return cmd
}

// writeKeyFile writes a key file atomically with its final mode, making
// the folder if needed.
func writeKeyFile(name string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return atomicfile.Write(name, data, mode)
}

// readPassword returns the key password: CAIRN_PASSWORD, else
// COSIGN_PASSWORD (set and empty is an empty password), else what is typed
// at a prompt on the terminal, twice when confirm is set.
func readPassword(cmd *cobra.Command, confirm bool) ([]byte, error) {
	for _, env := range []string{envPassword, envCosignPassword} {
		if p, ok := os.LookupEnv(env); ok {
			return []byte(p), nil
		}
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("no key password: set %s or %s, or run on a terminal", envPassword, envCosignPassword)
	}
	w := cmd.ErrOrStderr()
	fmt.Fprint(w, "Enter password for private key: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	if confirm {
		fmt.Fprint(w, "Enter password for private key again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(w)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the passwords do not match")
		}
	}
	return p, nil
}

// loadSigner reads the private key file with the password.
func loadSigner(cmd *cobra.Command, keyFile string) (*sign.Signer, error) {
	if _, err := os.Stat(keyFile); err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	password, err := readPassword(cmd, false)
	if err != nil {
		return nil, err
	}
	return sign.LoadPrivateKey(keyFile, password)
}

func newSignCmd(a *app) *cobra.Command {
	var (
		rf      registryFlags
		keyFile string
	)
	cmd := &cobra.Command{
		Use:   "sign REF",
		Short: "Sign a model artifact with a cosign key",
		Long: `Sign signs the manifest digest of the model REF names and stores the
signature as cosign does, under the tag sha256-<hex>.sig of the same
repository or layout, so "cosign verify" accepts it. Signing again with the
same key adds nothing. The key's password comes from CAIRN_PASSWORD, else
COSIGN_PASSWORD, else a prompt.`,
		Example: `  cairn sign registry.example.com/ml/fraud:v3 --key cosign.key
  cairn sign fraud:v3 --key cosign.key      # the repository's .cairn/oci`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			signer, err := loadSigner(cmd, keyFile)
			if err != nil {
				return err
			}
			res, err := sign.Sign(context.Background(), ref, signer, rf.options())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s %s\n", done(res.Added, "signed", "already signed with this key:"), res.Ref)
			fmt.Fprintf(w, "tag:      %s\n", res.Tag)
			fmt.Fprintf(w, "payload:  %s\n", res.Digest)
			fmt.Fprintf(w, "key:      %s\n", res.KeyID)
			return nil
		},
	}
	rf.add(cmd, false)
	cmd.Flags().StringVar(&keyFile, "key", "", "the private key file (cosign's encrypted format)")
	cmd.MarkFlagRequired("key")
	return cmd
}

func newAttestCmd(a *app) *cobra.Command {
	var (
		rf                         registryFlags
		keyFile, predicate, ptType string
	)
	cmd := &cobra.Command{
		Use:   "attest REF",
		Short: "Attach a signed in-toto statement (lineage) to a model artifact",
		Long: `Attest wraps the predicate in FILE (a JSON object; - for standard input) in
an in-toto Statement v1 about the manifest digest of the model REF names,
signs it as a DSSE envelope with the key, and stores it as cosign does,
under the tag sha256-<hex>.att, annotated with the predicate type, so
"cosign verify-attestation" accepts it. Predicates of Cairn's types
(docs/lineage.md) are checked first. The same statement signed again with
the same key is not added twice.`,
		Example: `  cairn attest fraud:v3 --key cosign.key --type https://slsa.dev/provenance/v1 --predicate provenance.json
  cairn attest fraud:v3 --key cosign.key --type https://cairn.dev/evaluation/v1 --predicate - < eval.json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			var raw []byte
			if predicate == "-" {
				raw, err = io.ReadAll(cmd.InOrStdin())
			} else {
				raw, err = os.ReadFile(predicate)
			}
			if err != nil {
				return fmt.Errorf("reading the predicate: %w", err)
			}
			signer, err := loadSigner(cmd, keyFile)
			if err != nil {
				return err
			}
			res, err := sign.Attest(context.Background(), ref, signer, ptType, raw, rf.options())
			if err != nil {
				if predicate != "-" {
					return fmt.Errorf("%s: %w", predicate, err)
				}
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s %s\n", done(res.Added, "attested", "already attested with this statement and key:"), res.Ref)
			fmt.Fprintf(w, "type:       %s\n", ptType)
			fmt.Fprintf(w, "tag:        %s\n", res.Tag)
			fmt.Fprintf(w, "statement:  %s\n", res.StatementDigest)
			fmt.Fprintf(w, "envelope:   %s\n", res.Digest)
			fmt.Fprintf(w, "key:        %s\n", res.KeyID)
			return nil
		},
	}
	rf.add(cmd, false)
	cmd.Flags().StringVar(&keyFile, "key", "", "the private key file (cosign's encrypted format)")
	cmd.Flags().StringVar(&predicate, "predicate", "", "the predicate, a JSON file (- for standard input)")
	cmd.Flags().StringVar(&ptType, "type", "", "the predicate type URI, e.g. https://slsa.dev/provenance/v1")
	for _, f := range []string{"key", "predicate", "type"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// done picks the verb of a sign or attest result.
func done(added bool, yes, no string) string {
	if added {
		return yes
	}
	return no
}

func newVerifyCmd(a *app) *cobra.Command {
	var (
		rf               registryFlags
		keyFiles         []string
		require, accepts []string
		output           string
		lineageToo       bool
	)
	cmd := &cobra.Command{
		Use:   "verify REF",
		Short: "Verify a model's signatures and lineage statements, offline",
		Long: `Verify checks every signature (sha256-<hex>.sig) and attestation
(sha256-<hex>.att) of the model REF names against the public keys, with no
transparency log and no network beyond the registry, and prints each with
its status and, when rejected, a reason code: NO_SIGNATURE, SIG_INVALID,
UNTRUSTED_KEY, SUBJECT_MISMATCH, NO_PROVENANCE, WRONG_TYPE or MALFORMED
(docs/lineage.md gives the rules). Statements of Cairn's predicate types,
--require'd types and --type'd types are accepted; others are WRONG_TYPE.

Exit status 0 when a signature verifies and every --require'd type has a
verified statement, 1 otherwise.`,
		Example: `  cairn verify registry.example.com/ml/fraud:v3 --key cosign.pub
  cairn verify fraud:v3 --key cosign.pub --require https://slsa.dev/provenance/v1 -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("verify: -o %q: want text or json", output), cmd.CommandPath()}
			}
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			keys, err := sign.LoadPublicKeys(keyFiles...)
			if err != nil {
				return err
			}
			rep, err := sign.Verify(context.Background(), ref, keys, sign.VerifyOptions{Require: require, Types: accepts}, rf.options())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				if err := writeJSON(w, rep); err != nil {
					return err
				}
			} else if err := writeReport(w, rep); err != nil {
				return err
			} else if lineageToo {
				writeLineage(w, rep)
			}
			if !rep.OK {
				return silentError{ExitFailure}
			}
			return nil
		},
	}
	rf.add(cmd, false)
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "a trusted public key file; repeatable")
	cmd.Flags().StringArrayVar(&require, "require", nil, "a predicate type that must have a verified statement; repeatable")
	cmd.Flags().StringArrayVar(&accepts, "type", nil, "accept statements of this predicate type too; repeatable")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&lineageToo, "lineage", false, "also print the lineage the verified statements give (text output)")
	cmd.MarkFlagRequired("key")
	return cmd
}

// writeLineage prints what the verified provenance and evaluation
// statements say: where the model came from and how it scored.
func writeLineage(w io.Writer, rep *sign.Report) {
	line := func(name string, parts ...string) {
		var nonEmpty []string
		for _, p := range parts {
			if p != "" {
				nonEmpty = append(nonEmpty, p)
			}
		}
		fmt.Fprintf(w, "  %-24s %s\n", name, strings.Join(nonEmpty, "  "))
	}
	digest := func(d lineage.DigestSet) string {
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, k+":"+d[k])
		}
		return strings.Join(out, " ")
	}
	for _, e := range rep.Entries {
		if e.Status != sign.StatusVerified {
			continue
		}
		switch p := e.Predicate.(type) {
		case *lineage.Provenance:
			fmt.Fprintln(w, "lineage (verified provenance):")
			if md := p.RunDetails.Metadata; md != nil {
				when := ""
				if md.StartedOn != nil && md.FinishedOn != nil {
					when = md.StartedOn.Format(time.RFC3339) + " to " + md.FinishedOn.Format(time.RFC3339)
				}
				line("run", md.InvocationID, when)
			}
			line("builder", p.RunDetails.Builder.ID)
			for _, d := range p.BuildDefinition.ResolvedDependencies {
				line(d.Name, d.URI, digest(d.Digest))
			}
			for _, b := range p.RunDetails.Byproducts {
				keys := make([]string, 0, len(b.Annotations))
				for k := range b.Annotations {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var kv []string
				for _, k := range keys {
					kv = append(kv, fmt.Sprintf("%s=%v", k, b.Annotations[k]))
				}
				line(b.Name, strings.Join(kv, " "))
			}
		case *lineage.Deployment:
			fmt.Fprintf(w, "deployment (verified): %s/%s\n", p.Environment, p.Namespace)
			line("inferenceService", p.InferenceService, fmt.Sprintf("canary %d%%", p.CanaryPercent))
			line("deployed", p.DeployedOn.UTC().Format(time.RFC3339), p.RunID)
		case *lineage.Evaluation:
			fmt.Fprintf(w, "evaluation (verified): %s\n", p.Verdict)
			for _, g := range p.Gates {
				v := "missing"
				if g.Value != nil {
					v = fmt.Sprint(*g.Value)
				}
				result := "passed"
				if !g.Passed {
					result = "FAILED"
				}
				line(g.Metric+" "+g.Condition, v, result)
			}
		}
	}
}

// writeReport writes a verification report as a table, the reasons of
// the rejections, and a summary line.
func writeReport(w io.Writer, rep *sign.Report) error {
	fmt.Fprintf(w, "artifact  %s\n", rep.Ref)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTATUS\tREASON\tTYPE\tKEY\tDIGEST")
	var (
		problems           []string
		signed             bool
		verified, attested int
	)
	for _, e := range rep.Entries {
		digest := e.PayloadDigest
		if e.Kind == sign.KindAttestation {
			digest = e.EnvelopeDigest
			if e.Status != sign.StatusMissing {
				attested++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Status, dash(string(e.Reason)), dash(e.PredicateType), dash(e.KeyID), dash(digest))
		switch {
		case e.Status != sign.StatusVerified:
			problems = append(problems, fmt.Sprintf("%s: %s", e.Reason, e.Message))
		case e.Kind == sign.KindSignature:
			signed = true
		default:
			verified++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	var summary []string
	if signed {
		summary = append(summary, "signed")
	} else {
		summary = append(summary, "no verified signature")
	}
	summary = append(summary, fmt.Sprintf("%d of %d statements verified", verified, attested))
	status := "ok"
	if !rep.OK {
		status = "FAILED"
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", status, strings.Join(summary, "; "))
	return err
}
