package check

import (
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"cairn.dev/cairn/compiler/ir"
)

// ReferenceTime is the instant runs per month are counted from, fixed so
// that the same specs always give the same estimates.
var ReferenceTime = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// MonthWindow is the length of the "month" of cost estimates.
const MonthWindow = 30 * 24 * time.Hour

// maxRunsPerMonth bounds the count of a schedule's runs: one a second
// (robfig/cron's finest) over the window.
const maxRunsPerMonth = int(MonthWindow / time.Second)

// Estimate is what one pipeline's runs may use and cost. Costs are upper
// bounds in USD: every step runs for its whole maxRuntime. Platform steps
// (validate-data, gate, pack) are not counted.
type Estimate struct {
	// GPUHours of one run: nodes × gpusPerNode × the training's maxRuntime
	// in hours.
	GPUHours float64
	// Priced reports that the price table prices everything a run uses;
	// the costs below are 0 otherwise.
	Priced bool
	// MissingGPUPrice reports GPU training whose compute.gpuType (or its
	// absence) has no price in policy.prices.gpuHour.
	MissingGPUPrice bool
	// MissingCPUPrice reports that policy.prices.cpuHour is not set.
	MissingCPUPrice bool
	// TrainCost is the training's cost: nodes × (gpusPerNode × GPU price +
	// cpu × cpuHour) × hours, less the spot discount on spot nodes.
	TrainCost float64
	// StepsCost is the cost of the ingest, feature and evaluation steps: cpu ×
	// cpuHour × hours each.
	StepsCost float64
	// CostPerRun is TrainCost + StepsCost.
	CostPerRun float64
	// RunsPerMonth is the number of runs the schedule starts in
	// MonthWindow from ReferenceTime; 0 when the pipeline has no schedule.
	RunsPerMonth int
	// CostPerMonth is CostPerRun × RunsPerMonth.
	CostPerMonth float64
}

// EstimateCost estimates the GPU-hours and cost of a pipeline's runs from
// the project's price table. It fails only on values the checker refuses
// (durations, quantities, schedules).
func EstimateCost(p *ir.Project, pl *ir.Pipeline) (Estimate, error) {
	var e Estimate
	prices := p.Policy.Prices
	cp := pl.Train.Compute
	trainHours, err := hours(cp.MaxRuntime)
	if err != nil {
		return e, err
	}
	e.GPUHours = float64(cp.GPUs()) * trainHours

	var gpuPrice, cpuPrice float64
	if cp.GPUs() > 0 {
		price, ok := prices.GPUHour[cp.GPUType]
		if !ok || cp.GPUType == "" {
			e.MissingGPUPrice = true
		}
		gpuPrice = price
	}
	if prices.CPUHour == nil {
		e.MissingCPUPrice = true
	} else {
		cpuPrice = *prices.CPUHour
	}

	cpu, err := ir.Quantity(cp.CPU)
	if err != nil {
		return e, err
	}
	train := float64(cp.Nodes) * (float64(cp.GPUsPerNode)*gpuPrice + cpu*cpuPrice) * trainHours
	if cp.Spot {
		// A discount of 1 makes spot free, even for a price too large to
		// multiply.
		if f := 1 - prices.SpotDiscount; f > 0 {
			train *= f
		} else {
			train = 0
		}
	}
	steps := 0.0
	step := func(r ir.Resources, maxRuntime string) error {
		h, err := hours(maxRuntime)
		if err != nil {
			return err
		}
		cpu, err := ir.Quantity(r.CPU)
		if err != nil {
			return err
		}
		steps += cpu * cpuPrice * h
		return nil
	}
	for _, name := range ir.SortedKeys(pl.Data) {
		if in := pl.Data[name].Ingest; in != nil {
			if err := step(in.Resources, in.MaxRuntime); err != nil {
				return e, err
			}
		}
	}
	for _, name := range ir.SortedKeys(pl.Features) {
		f := pl.Features[name]
		if err := step(f.Resources, f.MaxRuntime); err != nil {
			return e, err
		}
	}
	if ev := pl.Evaluate; ev != nil {
		if err := step(ev.Resources, ev.MaxRuntime); err != nil {
			return e, err
		}
	}

	if e.RunsPerMonth, err = RunsPerMonth(pl.Schedule); err != nil {
		return e, err
	}
	e.Priced = !e.MissingGPUPrice && !e.MissingCPUPrice
	if e.Priced {
		e.TrainCost, e.StepsCost, e.CostPerRun = train, steps, train+steps
		if e.RunsPerMonth > 0 {
			e.CostPerMonth = e.CostPerRun * float64(e.RunsPerMonth)
		}
	}
	return e, nil
}

// RunsPerMonth counts the runs a schedule starts in MonthWindow from
// ReferenceTime (that instant included), reading the cron expression as
// Argo does, with robfig/cron, in the schedule's time zone. A suspended
// schedule counts as running: it can be resumed without a compile. A nil
// schedule runs 0 times.
func RunsPerMonth(s *ir.Schedule) (int, error) {
	if s == nil {
		return 0, nil
	}
	key := s.Cron + "\x00" + s.Timezone
	if n, ok := runsCache.Load(key); ok {
		return n.(int), nil
	}
	n, err := runsPerMonth(s)
	if err == nil {
		runsCache.Store(key, n)
	}
	return n, err
}

// runsCache memoizes RunsPerMonth by schedule and time zone: many
// pipelines share a schedule.
var runsCache sync.Map

// locations memoizes time.LoadLocation, which parses the zone data each
// time.
var locations sync.Map

func loadLocation(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err == nil {
		locations.Store(name, l)
	}
	return l, err
}

func runsPerMonth(s *ir.Schedule) (int, error) {
	sched, err := cron.ParseStandard(s.Cron)
	if err != nil {
		return 0, fmt.Errorf("bad schedule %q: %v", s.Cron, err)
	}
	tz := s.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := loadLocation(tz)
	if err != nil || tz == "Local" {
		return 0, fmt.Errorf("unknown time zone %q", s.Timezone)
	}
	start := ReferenceTime.In(loc)
	end := start.Add(MonthWindow)
	n := 0
	// Next returns the first activation after its argument, rounded to the
	// second: one second before the start counts an activation at the
	// start itself.
	for t := sched.Next(start.Add(-time.Second)); !t.IsZero() && t.Before(end) && n < maxRunsPerMonth; t = sched.Next(t) {
		n++
	}
	return n, nil
}

func hours(maxRuntime string) (float64, error) {
	d, err := ir.ParseDuration(maxRuntime)
	if err != nil {
		return 0, err
	}
	return d.Hours(), nil
}
