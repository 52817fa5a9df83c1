// Command infra is the Pulumi program of the todo platform (Pulumi.yaml:
// runtime go, main infra/). The program itself is platform.Program.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/platform"
)

func main() {
	pulumi.Run(platform.Program)
}
