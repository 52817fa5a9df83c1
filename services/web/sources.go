package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// The sources the site is built from (the rule of scripts/sources.mjs,
// which records their digest in dist/SOURCES.sha256 at build time).
var (
	sourceDirs  = []string{"app", "components", "lib", "public"}
	sourceFiles = []string{"package.json", "package-lock.json", "next.config.ts", "tsconfig.json"}
)

func isTest(name string) bool {
	return strings.HasSuffix(name, ".test.ts") || strings.HasSuffix(name, ".test.tsx")
}

// sourceDigest is the hex SHA-256 over each source's path and content
// digest, in path order, of the sources in root.
func sourceDigest(root fs.FS) (string, error) {
	var files []string
	for _, f := range sourceFiles {
		if _, err := fs.Stat(root, f); err == nil {
			files = append(files, f)
		}
	}
	for _, d := range sourceDirs {
		if _, err := fs.Stat(root, d); err != nil {
			continue
		}
		err := fs.WalkDir(root, d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || isTest(path.Base(p)) {
				return err
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := fs.ReadFile(root, f)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s\n%s\n", f, hex.EncodeToString(sum[:]))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BuiltDigest is the source digest recorded when dist/ was built.
func BuiltDigest() string {
	b, _ := fs.ReadFile(dist, "dist/SOURCES.sha256")
	return strings.TrimSpace(string(b))
}

// SourceDigest is the digest of the sources in dir (services/web of a
// checkout).
func SourceDigest(dir string) (string, error) {
	return sourceDigest(os.DirFS(dir))
}
