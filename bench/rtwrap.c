/* Times one run of another program: bench/pods.sh installs it as the
 * runtime binary (BinaryName), as the CNI plugins and as the containerd
 * shim. Run as PATH, it runs the program named in PATH.target with the
 * same arguments, environment and fds, waits for it, and appends one line
 * to PATH.log:
 *   <start ns> <end ns> <verb> <id> <exit status>
 * (CLOCK_MONOTONIC; verb: the runtime's subcommand, CNI_COMMAND for a CNI
 * plugin, the shim's last argument; id: the runtime's last argument,
 * CNI_CONTAINERID, or the shim's -id). Its exit status is the program's.
 * The cost (one fork and exec of this static binary) is the same for every
 * runtime and is not in the times it writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  char path[4096], target[4096];
  snprintf(path, sizeof path, "%s.target", argv[0]);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror(path);
    return 127;
  }
  ssize_t n = read(fd, target, sizeof target - 1);
  close(fd);
  if (n <= 0) {
    fprintf(stderr, "%s: empty\n", path);
    return 127;
  }
  target[n] = 0;
  target[strcspn(target, "\n")] = 0;

  long long t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 127;
  }
  if (pid == 0) {
    argv[0] = target;
    execv(target, argv);
    perror(target);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  long long t1 = now();

  const char *verb = "?", *id = argc > 1 ? argv[argc - 1] : "-";
  static const char *verbs[] = {"create", "start", "delete", "kill", "state",
                                "exec", "update", "pause", "resume", "ps",
                                "events", "features", NULL};
  for (int i = 1; i < argc && !strcmp(verb, "?"); i++)
    for (int j = 0; verbs[j]; j++)
      if (!strcmp(argv[i], verbs[j]))
        verb = verbs[j];
  if (getenv("CNI_COMMAND")) {
    verb = getenv("CNI_COMMAND");
    id = getenv("CNI_CONTAINERID") ? getenv("CNI_CONTAINERID") : "-";
  }
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "-id")) {
      id = argv[i + 1];
      verb = argv[argc - 1];
    }
  snprintf(path, sizeof path, "%s.log", argv[0]);
  fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    char line[512];
    int len = snprintf(line, sizeof line, "%lld %lld %s %s %d\n", t0, t1, verb,
                       id, st);
    if (len > 0 && write(fd, line, (size_t)len) < 0) {
    }
    close(fd);
  }
  if (WIFSIGNALED(st)) {
    signal(WTERMSIG(st), SIG_DFL);
    raise(WTERMSIG(st));
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 127;
}
