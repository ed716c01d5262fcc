package registrytest

import (
	"net/http"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	get := func() (int, error) {
		resp, err := http.Get("http://" + s.Host + "/v2/")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != http.StatusOK {
		t.Fatalf("GET /v2/ = %d, %v; want 200", code, err)
	}
	s.Stop()
	if _, err := get(); err == nil {
		t.Fatal("the registry still answers after Stop")
	}
	s.Restart()
	if code, err := get(); err != nil || code != http.StatusOK {
		t.Fatalf("GET /v2/ after Restart = %d, %v; want 200", code, err)
	}
}
