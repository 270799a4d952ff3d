/* Minimal pod sandbox "pause" process for the local reference setup.
 * Sleeps until SIGTERM/SIGINT, reaps any zombie children (it is PID 1 of the
 * pod's PID namespace when processes are shared). Build: gcc -static -O2. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }
static void on_child(int sig) { (void)sig; /* reaped in main loop */ }

int main(int argc, char **argv) {
    struct sigaction sa;
    sigset_t block, old;

    if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        puts("critter-test-pause 1.0");
        return 0;
    }
    if (getpid() != 1)
        fprintf(stderr, "pause: warning: not running as PID 1\n");

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    /* Block the signals and atomically wait with sigsuspend to avoid races. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (stop_signal) {
            fprintf(stderr, "pause: shutting down, got signal %d\n", (int)stop_signal);
            return 0;
        }
        sigsuspend(&old);
    }
}
