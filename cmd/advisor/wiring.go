package main

import (
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/config"
)

// engineOptions turns the configuration into the engine's options.
func engineOptions(cfg *config.Config) advisor.Options {
	a, d := cfg.Analysis, cfg.Detect
	th := explain.DefaultThresholds()
	th.SeqScanMinRows = float64(d.SeqScanMinRows)
	th.SeqScanRemovedRatio = d.SeqScanRemovedRatio
	th.MisestimateFactor = d.MisestimateFactor
	th.LargeOffsetRows = float64(d.LargeOffsetRows)
	th.InefficientIndexRemovedRatio = d.InefficientIndexRemovedRatio
	return advisor.Options{
		Rank: collector.RankOptions{By: collector.RankBy(a.RankBy), MinCalls: a.MinCalls, Top: a.Top},
		Runner: explain.RunnerOptions{
			StatementTimeout:      time.Duration(a.StatementTimeout),
			LockTimeout:           time.Duration(a.LockTimeout),
			AllowAnalyzeOnPrimary: a.AllowAnalyzeOnPrimary,
		},
		Thresholds: th,
		Timeout:    time.Duration(a.CycleTimeout),
		Select: advisor.SelectOptions{
			MaxPerTable:       a.MaxIndexesPerTable,
			BudgetBytes:       int64(a.Budget),
			MinImprovementPct: a.MinImprovementPct,
		},
	}
}

func engineTarget(t config.Target) advisor.Target {
	return advisor.Target{
		Name: t.Name, DSN: t.DSN, ReplicaDSN: t.ReplicaDSN,
		Databases: collector.NameFilter{Include: t.Databases.Include, Exclude: t.Databases.Exclude},
		Users:     collector.NameFilter{Include: t.Users.Include, Exclude: t.Users.Exclude},
	}
}
