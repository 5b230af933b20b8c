/* log.h -- one line per event on stderr: controller-runtime's JSON keys, or text for people. */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdbool.h>

enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Longest line written, newline included; longer lines are cut with a "..." marker (JSON lines
 * stay valid JSON). */
#define LOG_LINE_MAX 16384

/* Sets the format, the lowest level written and the file descriptor (2 = stderr, the default
 * before any call). Call once at start-up, before other threads log. */
void log_init(enum log_format fmt, enum log_level level, int fd);
/* True when a line at level would be written. Thread-safe. */
bool log_enabled(enum log_level level);
/* Writes one line: JSON {"level","ts","logger","msg","object","error"} (object and error only
 * when non-NULL, logger only when non-NULL) or text
 * "2026-11-23T04:00:00.123Z INFO  api: msg object=ns/name error=\"...\"". Control characters
 * and invalid UTF-8 are escaped. Thread-safe: one write(2) per line, lines never interleave.
 * Never log keys, tokens or whole CSRs. */
void log_write(enum log_level level, const char *logger, const char *object, const char *error,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Checks the level before the arguments are evaluated or formatted. */
#define LOG(level, logger, object, error, ...)                                                     \
    do {                                                                                           \
        if (log_enabled(level))                                                                    \
            log_write(level, logger, object, error, __VA_ARGS__);                                  \
    } while (0)

#endif
