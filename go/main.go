// Package main is iodine's Go core, built with -buildmode=c-shared and
// loaded by the Ruby C extension with dlopen() (see iodine.h).
package main

/*
#cgo CFLAGS: -O2 -Wall -DIODINE_GO_SIDE
#include "iodine.h"
*/
import "C"

// main is required by -buildmode=c-shared and never runs.
func main() {}
