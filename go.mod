module github.com/todo-platform/todo

go 1.26
