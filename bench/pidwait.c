/* Waits until process PID has exited (a pidfd turns readable), for the
 * create/start/wait/delete scenario: the same waiter for every runtime.
 * usage: pidwait PID */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int fd = syscall(SYS_pidfd_open, atoi(argv[1]), 0);
    if (fd < 0) return 0; /* already gone */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, -1) < 0) {}
    return 0;
}
