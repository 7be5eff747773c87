package kvcache

import (
	"time"

	"go.uber.org/zap"
)

// NewMemoryWithSummaryInterval builds a memory backend whose summary
// warning comes every interval instead of every minute.
func NewMemoryWithSummaryInterval(name string, cfg BackendConfig, log *zap.Logger, every time.Duration) (*Memory, error) {
	return newMemory(name, cfg, log, every)
}
