package monitoring

import _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1" // pinned until the lowering imports it
