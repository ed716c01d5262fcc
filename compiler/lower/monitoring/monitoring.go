// Package monitoring lowers a pipeline's serve block to a Prometheus
// Operator PrometheusRule (monitoring.coreos.com/v1): alerts on the served
// model's latency percentiles against the spec's budget and on its error
// rate, over the metrics KServe's model server and Knative's queue-proxy
// export.
package monitoring

import (
	"fmt"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/lower"
)

// The PrometheusRule's API version, kind and file.
const (
	APIVersion = "monitoring.coreos.com/v1"
	Kind       = "PrometheusRule"
	File       = "prometheusrule.yaml"
)

// Metric names. KServe's model server (kserve.Model, every Python
// runtime from KServe 0.10) records the predict latency as the histogram
// request_predict_seconds with the label model_name (the
// InferenceService's name); Knative's queue-proxy in front of each
// predictor counts requests by response_code_class in
// revision_app_request_count, labelled with the Knative service
// "<name>-predictor" and namespace_name.
const (
	MetricLatencyBucket = "request_predict_seconds_bucket"
	MetricRequestCount  = "revision_app_request_count"
)

// Window is the rate window of every alert, and For how long a condition
// holds before the alert fires.
const (
	Window = "5m"
	For    = "10m"
)

// Build returns the PrometheusRule watching the pipeline's served model,
// or nil when the pipeline serves nothing.
func Build(p *ir.Project, pl *ir.Pipeline, meta lower.Meta) (*monitoringv1.PrometheusRule, error) {
	s := pl.Serve
	if s == nil {
		return nil, nil
	}
	labels := map[string]string{"namespace": p.Namespace, "model_name": pl.Name}
	var rules []monitoringv1.Rule
	for _, b := range []struct{ name, q, budget string }{
		{"P50", "0.5", s.Latency.P50}, {"P95", "0.95", s.Latency.P95}, {"P99", "0.99", s.Latency.P99},
	} {
		if b.budget == "" {
			continue
		}
		sec, err := Seconds(b.budget)
		if err != nil {
			return nil, fmt.Errorf("serve.latency: %w", err)
		}
		expr := fmt.Sprintf("histogram_quantile(%s, sum by (le) (rate(%s{%s}[%s]))) > %s",
			b.q, MetricLatencyBucket, selector(labels), Window, strconv.FormatFloat(sec, 'f', -1, 64))
		rules = append(rules, rule(pl.Name, "Latency"+b.name, expr, "warning",
			fmt.Sprintf("%s latency of model %s in %s is over its budget of %s", strings.ToLower(b.name), pl.Name, p.Namespace, b.budget)))
	}
	knative := map[string]string{"namespace_name": p.Namespace, "service_name": pl.Name + "-predictor"}
	errLabels := map[string]string{"namespace_name": p.Namespace, "service_name": pl.Name + "-predictor", "response_code_class": "5xx"}
	expr := fmt.Sprintf("sum(rate(%s{%s}[%s])) / sum(rate(%s{%s}[%s])) > %s",
		MetricRequestCount, selector(errLabels), Window, MetricRequestCount, selector(knative), Window,
		strconv.FormatFloat(s.MaxErrorRate, 'f', -1, 64))
	rules = append(rules, rule(pl.Name, "ErrorRate", expr, "critical",
		fmt.Sprintf("more than %s of the requests to model %s in %s fail", strconv.FormatFloat(s.MaxErrorRate, 'f', -1, 64), pl.Name, p.Namespace)))
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{Name: pl.Name, Namespace: p.Namespace, Labels: meta.Labels, Annotations: meta.Annotations},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{
			Name:  "cairn." + pl.Name + ".serving",
			Rules: rules,
		}}},
	}, nil
}

func rule(model, suffix, expr, severity, summary string) monitoringv1.Rule {
	d := monitoringv1.Duration(For)
	return monitoringv1.Rule{
		Alert:       AlertName(model, suffix),
		Expr:        intstr.FromString(expr),
		For:         &d,
		Labels:      map[string]string{"severity": severity, lower.LabelPipeline: model},
		Annotations: map[string]string{"summary": summary},
	}
}

// AlertName is an alert's name: the model's name in CamelCase, then what
// it watches ("FraudLatencyP99").
func AlertName(model, suffix string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(model, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + suffix
}

// selector writes a PromQL label matcher list, labels sorted.
func selector(labels map[string]string) string {
	var parts []string
	for _, k := range ir.SortedKeys(labels) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return strings.Join(parts, ",")
}

// Seconds converts a latency budget ("50ms", "1.5s") to seconds.
func Seconds(s string) (float64, error) {
	num, mult := s, 1.0
	if n, ok := strings.CutSuffix(s, "ms"); ok {
		num, mult = n, 0.001
	} else if n, ok := strings.CutSuffix(s, "s"); ok {
		num = n
	} else {
		return 0, fmt.Errorf("latency %q: want a number of ms or s", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("latency %q: want a number of ms or s", s)
	}
	// Round away the binary noise of the millisecond conversion.
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v*mult, 'g', 12, 64), 64)
	return r, nil
}
