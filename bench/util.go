package bench

import "os"

func tempDir() (string, error) { return os.MkdirTemp("", "sessionbench-") }

func removeAll(dir string) { _ = os.RemoveAll(dir) }
