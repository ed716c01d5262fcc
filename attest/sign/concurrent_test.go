package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"cairn.dev/cairn/attest/lineage"
	cairnoci "cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/registrytest"
)

// concurrentSigners is how many signers run at once in these tests.
const concurrentSigners = 8

// helperEnv, set in a child's environment, makes the test binary a
// signer process (see TestMain): it holds the work to do.
const helperEnv = "CAIRN_SIGN_TEST_HELPER"

// TestMain lets the test binary run as a signer process for the tests
// that sign from several processes at once.
func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		if err := signerProcess(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// plainSigner returns a signer over a new P-256 key, made in memory: a
// key in cosign's encrypted format costs a scrypt derivation to open.
func plainSigner(t testing.TB, name string) *Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signerOf(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signerOf(name string, priv *ecdsa.PrivateKey) (*Signer, error) {
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	pub, err := newPublicKey(name, priv.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, pub: pub}, nil
}

// signAll signs and attests model with every signer, all at once, each
// starting when the others do, and returns their results.
func signAll(t *testing.T, model cairnoci.Ref, signers []*Signer, opts cairnoci.Options) []*Result {
	t.Helper()
	ctx := context.Background()
	prov := provenanceFor(t, "run-concurrent")
	results := make([]*Result, 2*len(signers))
	errs := make([]error, 2*len(signers))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range signers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			results[2*i], errs[2*i] = Sign(ctx, model, s, opts)
		}()
		go func() {
			defer wg.Done()
			<-start
			results[2*i+1], errs[2*i+1] = Attest(ctx, model, s, lineage.PredicateSLSAProvenance, prov, opts)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("signer %d: %v", i/2, err)
		}
		if !results[i].Added {
			t.Errorf("signer %d: Added = false, want true (every key signs once)", i/2)
		}
	}
	return results
}

// checkAllPresent verifies model and wants one verified signature and one
// verified provenance statement per signer, each the layer its Sign or
// Attest reported.
func checkAllPresent(t *testing.T, model cairnoci.Ref, signers []*Signer, results []*Result, opts cairnoci.Options) {
	t.Helper()
	var keys []*PublicKey
	for _, s := range signers {
		keys = append(keys, s.PublicKey())
	}
	rep, err := Verify(context.Background(), model, keys, VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string]bool{}
	for _, e := range rep.Entries {
		if e.Status != StatusVerified {
			t.Errorf("entry %s %s: %s", e.Kind, e.Reason, e.Message)
			continue
		}
		verified[string(e.Kind)+" "+e.KeyID+" "+e.PayloadDigest+e.EnvelopeDigest] = true
	}
	for i, r := range results {
		kind := KindSignature
		if i%2 == 1 {
			kind = KindAttestation
		}
		if !verified[string(kind)+" "+r.KeyID+" "+r.Digest] {
			t.Errorf("signer %d: %s %s reported stored, and Verify finds no verified layer for it; entries: %s", i/2, kind, r.Digest, entries(rep))
		}
	}
	if n := len(rep.Entries); n != 2*len(signers) {
		t.Errorf("Verify found %d entries, want %d (a signature and a statement per signer): %s", n, 2*len(signers), entries(rep))
	}
}

func concurrentSigners8(t *testing.T) []*Signer {
	signers := make([]*Signer, concurrentSigners)
	for i := range signers {
		signers[i] = plainSigner(t, fmt.Sprintf("k%d", i))
	}
	return signers
}

// TestConcurrentSignLayout signs and attests one model in a layout from
// eight goroutines at once: every signature and statement ends stored and
// verifiable (the .sig and .att tags are updated read-modify-write).
func TestConcurrentSignLayout(t *testing.T) {
	opts := cairnoci.Options{}
	model := pushModel(t, layoutRef(t, "layout"), "weights", opts)
	signers := concurrentSigners8(t)
	results := signAll(t, model, signers, opts)
	checkAllPresent(t, model, signers, results, opts)
}

// TestConcurrentSignRegistry does the same in go-containerregistry's
// in-process registry, which has no compare-and-swap for tags.
func TestConcurrentSignRegistry(t *testing.T) {
	host := registrytest.InProcess(t, nil)
	opts := cairnoci.Options{Insecure: true}
	model := pushModel(t, cairnoci.Ref{Registry: host, Repository: "ml/fraud", Tag: "v1"}, "weights", opts)
	signers := concurrentSigners8(t)
	results := signAll(t, model, signers, opts)
	checkAllPresent(t, model, signers, results, opts)
}

// TestConcurrentSignRealRegistry does the same in the distribution
// registry (skipped without docker-registry unless CAIRN_REQUIRE_REGISTRY=1).
func TestConcurrentSignRealRegistry(t *testing.T) {
	reg := registrytest.Start(t)
	opts := cairnoci.Options{Insecure: true}
	model := pushModel(t, cairnoci.Ref{Registry: reg.Host, Repository: "ml/fraud", Tag: "v1"}, "weights", opts)
	signers := concurrentSigners8(t)
	results := signAll(t, model, signers, opts)
	checkAllPresent(t, model, signers, results, opts)
}

// TestConcurrentSignProcesses signs and attests one model in a layout
// from eight processes at once (this test binary, run as a signer; they
// start together at a set time): the layout's tag updates, which an
// in-process mutex cannot serialize across processes, lose nothing.
func TestConcurrentSignProcesses(t *testing.T) {
	opts := cairnoci.Options{}
	model := pushModel(t, layoutRef(t, "layout"), "weights", opts)
	dir := t.TempDir()
	signers := make([]*Signer, concurrentSigners)
	keyFiles := make([]string, concurrentSigners)
	for i := range signers {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		keyFiles[i] = filepath.Join(dir, fmt.Sprintf("k%d.pem", i))
		if err := os.WriteFile(keyFiles[i], pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if signers[i], err = signerOf(keyFiles[i], priv); err != nil {
			t.Fatal(err)
		}
	}
	startAt := time.Now().Add(3 * time.Second).UnixNano()
	cmds := make([]*exec.Cmd, concurrentSigners)
	outs := make([]*bytes.Buffer, concurrentSigners)
	for i := range cmds {
		spec := fmt.Sprintf("%d\n%s\n%s\n%s", startAt, keyFiles[i], model.Layout, filepath.Join(dir, fmt.Sprintf("r%d", i)))
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+spec)
		outs[i] = &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	results := make([]*Result, 2*concurrentSigners)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("signer process %d: %v\n%s", i, err, outs[i].String())
		}
		for j, kind := range []string{"sig", "att"} {
			data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("r%d.%s", i, kind)))
			if err != nil {
				t.Fatal(err)
			}
			results[2*i+j] = &Result{KeyID: signers[i].KeyID(), Digest: string(data), Added: true}
		}
	}
	checkAllPresent(t, model, signers, results, opts)
}

// signerProcess is the child of TestConcurrentSignProcesses: spec holds
// the time to start at, the key file, the layout and where to write the
// digests of the layers stored, one a line.
func signerProcess(spec string) error {
	parts := strings.Split(spec, "\n")
	if len(parts) != 4 {
		return fmt.Errorf("%s: want 4 fields, got %d", helperEnv, len(parts))
	}
	startAt, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(parts[1])
	if err != nil {
		return err
	}
	block, _ := pem.Decode(raw)
	priv, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	s, err := signerOf(parts[1], priv)
	if err != nil {
		return err
	}
	model := cairnoci.Ref{Layout: parts[2]}
	prov, err := lineage.TrainingProvenance(lineage.TrainingInput{
		Pipeline:  "fraud",
		SpecPath:  "fraud.cue",
		GitCommit: strings.Repeat("a", 40),
		Image:     "registry.example.com/train@sha256:" + strings.Repeat("c", 64),
		RunID:     "run-processes",
	})
	if err != nil {
		return err
	}
	predicate, err := json.Marshal(prov)
	if err != nil {
		return err
	}
	time.Sleep(time.Until(time.Unix(0, startAt)))
	ctx := context.Background()
	var wg sync.WaitGroup
	var sig, att *Result
	var sigErr, attErr error
	wg.Add(2)
	go func() { defer wg.Done(); sig, sigErr = Sign(ctx, model, s, cairnoci.Options{}) }()
	go func() {
		defer wg.Done()
		att, attErr = Attest(ctx, model, s, lineage.PredicateSLSAProvenance, predicate, cairnoci.Options{})
	}()
	wg.Wait()
	if sigErr != nil || attErr != nil {
		return fmt.Errorf("sign: %v; attest: %v", sigErr, attErr)
	}
	if err := os.WriteFile(parts[3]+".sig", []byte(sig.Digest), 0o644); err != nil {
		return err
	}
	return os.WriteFile(parts[3]+".att", []byte(att.Digest), 0o644)
}
