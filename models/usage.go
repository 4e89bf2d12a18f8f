package models

import (
	"time"

	"github.com/uptrace/bun"
)

// UsageHour is one workspace's metered use in one UTC hour.
type UsageHour struct {
	bun.BaseModel `bun:"table:usage_hourly,alias:uh"`
	Scoped

	Hour         time.Time `bun:"hour,pk"`
	APICalls     int64     `bun:"api_calls"`
	AgentMinutes int64     `bun:"agent_minutes"`
}
