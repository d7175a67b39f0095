#pragma once
// An in-process byte pipe: two connected net::Streams, for a bridge inside mothd that talks to its own broker
// through the client library (AsyncClient's StreamFactory hands it one end) while the server serves the other end
// as if it were an accepted socket. The ends usually live on different io_contexts run by different threads (the
// bridge's thread, a broker worker), so the bytes between them cross threads here, under one mutex.
//
// Semantics, chosen to match a TCP connection so that neither side needs a special case:
// - Bytes written to one end are read from the other, in order. A read completes with what is buffered, at most
//   the caller's buffer size.
// - Back-pressure: each direction buffers at most `window` unread bytes. write() completes only once all its
//   bytes are in the peer's buffer, so a reader that stops reading stops the writer.
// - close(), cancel(), release() and the destructor close the end. The peer then reads what is still buffered and
//   after that boost::asio::error::eof (an orderly close); its writes, pending or later, fail with
//   boost::asio::error::broken_pipe. The closing end's own pending and later operations fail with
//   boost::asio::error::operation_aborted; bytes it had not read are dropped.
// - An operation's cancellation slot (`||` of awaitable operators, parallel groups) aborts that operation alone
//   (operation_aborted); the end stays open. A write cancelled part way may have delivered a prefix.
// - At most one read and one write in flight per end (as for a socket); a second fails with already_started.
// - remote() returns the string given; release() closes the end and returns -1 (there is no descriptor to hand
//   over, and a lingering close has nothing to drain); message_oriented() is false; say_goodbye() does nothing.
//
// Thread affinity: each end's read_some/write/close run on that end's own executor (the one given for it), as any
// Stream. cancel(), release() and destruction are safe from any thread. Completions are always posted to the
// waiting operation's executor, never run inline, so a writer on one thread never runs the reader's code.
// A pending operation counts as outstanding work on its executor (its io_context's run() does not return), as a
// socket operation does. Either end may be destroyed first, even with operations pending on the other end: the
// state they share is reference counted. Destroy (or cancel) an end before its io_context is destroyed.
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "net/stream.hpp"

namespace moth::net {

struct PipeEnds {
    std::unique_ptr<Stream> a;  // runs on a_ex
    std::unique_ptr<Stream> b;  // runs on b_ex
};

inline constexpr std::size_t kDefaultPipeWindow = 256 * 1024;

// `a_remote` is what a->remote() says, `b_remote` what b->remote() says. `window` is the most unread bytes each
// direction holds (0 is taken as 1).
[[nodiscard]] PipeEnds make_pipe(boost::asio::any_io_executor a_ex, boost::asio::any_io_executor b_ex,
                                 std::string a_remote, std::string b_remote, std::size_t window = kDefaultPipeWindow);

}  // namespace moth::net
