package schemas

import "testing"

func TestParseGate(t *testing.T) {
	tests := []struct {
		in      string
		want    Gate
		wantErr bool
	}{
		{in: ">= 0.92", want: Gate{">=", 0.92}},
		{in: ">=0.92", want: Gate{">=", 0.92}},
		{in: "  > 1e-3 ", want: Gate{">", 0.001}},
		{in: "<= 10", want: Gate{"<=", 10}},
		{in: "< -2.5", want: Gate{"<", -2.5}},
		{in: "== 1", want: Gate{"==", 1}},
		{in: "at least 0.9", wantErr: true},
		{in: ">=", wantErr: true},
		{in: "0.9", wantErr: true},
		{in: ">= NaN", wantErr: true},
		{in: ">= Inf", wantErr: true},
		{in: ">= 0x10", wantErr: true},
		{in: ">= 1_000", wantErr: true},
		{in: "=> 1", wantErr: true},
		{in: "!= 1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseGate(tt.in)
		if (err != nil) != tt.wantErr || !tt.wantErr && got != tt.want {
			t.Errorf("ParseGate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestGatePass(t *testing.T) {
	tests := []struct {
		gate  string
		value float64
		want  bool
	}{
		{">= 0.92", 0.92, true},
		{">= 0.92", 0.91, false},
		{"> 0.92", 0.92, false},
		{"<= 0.1", 0.1, true},
		{"< 0.1", 0.1, false},
		{"== 3", 3, true},
		{"== 3", 3.0001, false},
	}
	for _, tt := range tests {
		g, err := ParseGate(tt.gate)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Pass(tt.value); got != tt.want {
			t.Errorf("ParseGate(%q).Pass(%v) = %v, want %v", tt.gate, tt.value, got, tt.want)
		}
	}
	if s := (Gate{">=", 0.92}).String(); s != ">= 0.92" {
		t.Errorf("Gate.String() = %q, want \">= 0.92\"", s)
	}
}
