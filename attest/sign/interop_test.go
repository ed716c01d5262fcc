package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"cairn.dev/cairn/attest/lineage"
	cairnoci "cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/registrytest"
)

// RequireCosignEnv, when set to 1 (as CI does), makes a missing cosign
// CLI a test failure instead of a skip.
const RequireCosignEnv = "CAIRN_REQUIRE_COSIGN"

// cosignCLI is the real cosign command line, with the keys of the test in
// files and an environment that keeps it offline.
type cosignCLI struct {
	t        testing.TB
	bin, dir string
	env      []string
}

// newCosign finds cosign on PATH, or skips the test (fails it when
// CAIRN_REQUIRE_COSIGN=1). It writes key a as cosign.key and cosign.pub,
// and key b's public half as other.pub.
func newCosign(t testing.TB) *cosignCLI {
	t.Helper()
	bin, err := exec.LookPath("cosign")
	if err != nil {
		const install = "go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5"
		if os.Getenv(RequireCosignEnv) == "1" {
			t.Fatalf("cosign is not on PATH (%s), and %s=1", install, RequireCosignEnv)
		}
		t.Skipf("cosign is not on PATH (%s); set %s=1 to fail instead", install, RequireCosignEnv)
	}
	keys(t)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"cosign.key": testKeys.aPEM, "cosign.pub": testKeys.aPub, "other.pub": testKeys.bPub} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"COSIGN_PASSWORD=" + testPassword,
		"TUF_ROOT=" + filepath.Join(home, "tuf"),
		// Any request beyond the loopback registry fails: the checks are
		// offline.
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
	}
	return &cosignCLI{t: t, bin: bin, dir: dir, env: env}
}

func (c *cosignCLI) key(name string) string { return filepath.Join(c.dir, name) }

// run runs cosign and returns its stdout and stderr, and whether it
// succeeded.
func (c *cosignCLI) run(args ...string) (stdout, stderr string, ok bool) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

func (c *cosignCLI) mustRun(args ...string) string {
	c.t.Helper()
	out, errOut, ok := c.run(args...)
	if !ok {
		c.t.Fatalf("cosign %s failed:\n%s%s", strings.Join(args, " "), out, errOut)
	}
	return out
}

// registryModel pushes a model to a fresh registry and returns its
// reference with digest, and the same as cosign names it.
func registryModel(t testing.TB, reg *registrytest.Server, repo, content string) (cairnoci.Ref, string) {
	t.Helper()
	ref, err := cairnoci.ParseRef(reg.Host+"/"+repo+":v1", "")
	if err != nil {
		t.Fatal(err)
	}
	model := pushModel(t, ref, content, cairnoci.Options{Insecure: true})
	return model, reg.Host + "/" + repo + "@" + model.Digest
}

// TestCosignVerifiesCairn: the real cosign CLI accepts Cairn's signature
// and provenance attestation, and rejects them under another key.
func TestCosignVerifiesCairn(t *testing.T) {
	c := newCosign(t)
	reg := registrytest.Start(t)
	ctx := context.Background()
	opts := cairnoci.Options{Insecure: true}
	a, _ := keys(t)
	model, image := registryModel(t, reg, "ml/fraud", "cairn-signed weights")
	if _, err := Sign(ctx, model, a, opts); err != nil {
		t.Fatal(err)
	}
	att, err := Attest(ctx, model, a, lineage.PredicateSLSAProvenance, provenanceFor(t, "run-7"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Attest(ctx, model, a, lineage.PredicateEvaluation, evaluationFor(t), opts); err != nil {
		t.Fatal(err)
	}

	out := c.mustRun("verify", "--key", c.key("cosign.pub"), "--insecure-ignore-tlog", "--allow-http-registry", "--output", "json", image)
	var sigs []struct {
		Critical struct {
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
		} `json:"critical"`
	}
	if err := json.Unmarshal([]byte(out), &sigs); err != nil {
		t.Fatalf("cosign verify printed %q: %v", out, err)
	}
	if len(sigs) != 1 || sigs[0].Critical.Image.Digest != model.Digest {
		t.Errorf("cosign verify found %+v, want one signature of %s", sigs, model.Digest)
	}

	out = c.mustRun("verify-attestation", "--key", c.key("cosign.pub"), "--insecure-ignore-tlog", "--allow-http-registry",
		"--type", lineage.PredicateSLSAProvenance, image)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("cosign verify-attestation printed %d envelopes, want 1 (the provenance):\n%s", len(lines), out)
	}
	var env dsse.Envelope
	if err := json.Unmarshal([]byte(lines[0]), &env); err != nil {
		t.Fatal(err)
	}
	st, _ := base64.StdEncoding.DecodeString(env.Payload)
	if got := layerDigest(st); got != att.StatementDigest {
		t.Errorf("cosign verified statement %s, Cairn attested %s", got, att.StatementDigest)
	}

	// Under another key, cosign refuses both.
	if _, _, ok := c.run("verify", "--key", c.key("other.pub"), "--insecure-ignore-tlog", "--allow-http-registry", image); ok {
		t.Error("cosign verify accepted the signature under another key")
	}
	if _, _, ok := c.run("verify-attestation", "--key", c.key("other.pub"), "--insecure-ignore-tlog", "--allow-http-registry", "--type", lineage.PredicateSLSAProvenance, image); ok {
		t.Error("cosign verify-attestation accepted the attestation under another key")
	}
}

// TestCairnVerifiesCosign: Cairn verifies a signature and an attestation
// the real cosign CLI made with a key Cairn generated, and a key pair
// cosign generated signs in Cairn.
func TestCairnVerifiesCosign(t *testing.T) {
	c := newCosign(t)
	reg := registrytest.Start(t)
	ctx := context.Background()
	opts := cairnoci.Options{Insecure: true}
	a, b := keys(t)
	model, image := registryModel(t, reg, "ml/bert", "cosign-signed weights")

	c.mustRun("sign", "--key", c.key("cosign.key"), "--tlog-upload=false", "--allow-http-registry", "--yes", image)
	pred := filepath.Join(c.dir, "provenance.json")
	if err := os.WriteFile(pred, provenanceFor(t, "run-8"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustRun("attest", "--key", c.key("cosign.key"), "--tlog-upload=false", "--allow-http-registry", "--yes",
		"--type", lineage.PredicateSLSAProvenance, "--predicate", pred, image)

	rep, err := Verify(ctx, model, []*PublicKey{a.PublicKey()}, VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || entries(rep) != "signature:verified attestation:verified" {
		t.Fatalf("Verify(cosign's signature) = ok %v, %s", rep.OK, entries(rep))
	}
	if e := rep.Entries[1]; e.KeyID != a.KeyID() || e.Statement.PredicateType != lineage.PredicateSLSAProvenance {
		t.Errorf("attestation entry %+v", e)
	}
	if p, ok := rep.Entries[1].Predicate.(*lineage.Provenance); !ok || p.RunDetails.Metadata.InvocationID != "run-8" {
		t.Errorf("cosign's provenance decoded as %#v", rep.Entries[1].Predicate)
	}
	// Cosign writes no key id: under another key both are SIG_INVALID.
	rep, err = Verify(ctx, model, []*PublicKey{b.PublicKey()}, VerifyOptions{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(rep); got != "signature:rejected:SIG_INVALID attestation:rejected:SIG_INVALID" || rep.OK {
		t.Errorf("Verify under another key = %s", got)
	}

	// Signing again with Cairn, same key and payload: cosign's signature is
	// a duplicate in content but carries no key id, so one layer is added,
	// and cosign still accepts the image.
	res, err := Sign(ctx, model, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := cairnoci.OpenStore(model, opts)
	if _, layers, _, err := readLayers(ctx, store, res.Tag, 4); err != nil || len(layers) != 2 || !res.Added {
		t.Errorf("after Cairn signed cosign's signed image: %d layers, added %v, %v", len(layers), res.Added, err)
	}
	c.mustRun("verify", "--key", c.key("cosign.pub"), "--insecure-ignore-tlog", "--allow-http-registry", image)

	// A key pair made by cosign works in Cairn.
	c.mustRun("generate-key-pair", "--output-key-prefix", "made-by-cosign")
	signer, err := LoadPrivateKey(c.key("made-by-cosign.key"), []byte(testPassword))
	if err != nil {
		t.Fatalf("loading cosign's key: %v", err)
	}
	pubs, err := LoadPublicKeys(c.key("made-by-cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if pubs[0].KeyID() != signer.KeyID() {
		t.Errorf("cosign's public key has id %s, its private key %s", pubs[0].KeyID(), signer.KeyID())
	}
}
