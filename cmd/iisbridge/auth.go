package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"iisbridge/auth"
	"iisbridge/config"
)

func init() {
	register(&command{
		Name:  "auth rotate-key",
		Usage: "[--config FILE] [--data DIR]",
		Short: "create a new access-token signing key; tokens signed by the previous key stay valid until they expire",
		Run:   runAuthRotateKey,
	})
}

func runAuthRotateKey(args []string) int {
	fs := flag.NewFlagSet("auth rotate-key", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "the server's configuration file (its data_dir holds the keys)")
	data := fs.String("data", "", "data directory (overrides the config; default "+config.DefaultDataDir+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	dir := config.DefaultDataDir
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: invalid configuration:\n%v\n", err)
			return 1
		}
		dir = cfg.DataDir
	}
	if *data != "" {
		dir = *data
	}
	kid, err := auth.RotateKey(filepath.Join(dir, "auth"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: %v\n", err)
		return 1
	}
	fmt.Printf("new token signing key %s in %s; a running server uses it within seconds\n", kid, filepath.Join(dir, "auth"))
	return 0
}
