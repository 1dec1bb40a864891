/* The floor: the least a runtime must do to start /bin/true in a container
 * like the benchmark's. One clone into new mount, pid, net, ipc, uts and
 * cgroup namespaces; in the child: make / private, bind the rootfs onto
 * itself, pivot_root into it, detach the old root, exec. The parent waits.
 * No config parsing, no cgroups, no /proc or /dev, no state on disk.
 * usage: floor ROOTFS PROGRAM [ARGS...]   (as root)
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024];
static char **argv_g;

static int die(const char *what) {
    perror(what);
    _exit(125);
}

static int child(void *arg) {
    const char *rootfs = arg;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make / private");
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL)) die("bind rootfs");
    if (chdir(rootfs)) die("chdir rootfs");
    if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root");
    if (umount2(".", MNT_DETACH)) die("detach old root");
    if (chdir("/")) die("chdir /");
    execv(argv_g[2], argv_g + 2);
    return die("exec");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: floor ROOTFS PROGRAM [ARGS...]\n");
        return 2;
    }
    argv_g = argv;
    int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD;
    pid_t pid = clone(child, stack + sizeof stack, flags, argv[1]);
    if (pid < 0) die("clone");
    int status;
    if (waitpid(pid, &status, 0) < 0) die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
