package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Verbosity levels, as iodine's -V: 0 none, 1 fatal, 2 error, 3 warning,
// 4 info (default), 5 debug.
const (
	levelFatal = 1
	levelError = 2
	levelWarn  = 3
	levelInfo  = 4
	levelDebug = 5
)

var verbosity atomic.Int32

func init() { verbosity.Store(levelInfo) }

var levelNames = [...]string{"", "FATAL", "ERROR", "WARNING", "INFO", "DEBUG"}

// logf writes one line to stderr when the level is enabled.
func logf(level int, format string, args ...any) {
	if int32(level) > verbosity.Load() {
		return
	}
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "%s (%d) %s: %s\n", time.Now().Format("2006-01-02 15:04:05"), os.Getpid(), levelNames[level], msg)
}
