import NIOCore

/// Merges the flushes of one event-loop pass into one: the first flush is deferred to a task
/// queued behind the work already waiting on the loop, and flushes before it runs are dropped.
///
/// Responses (and a client's pipelined requests) reach the loop one task each, every one with a
/// `writeAndFlush`; without this each becomes its own `write(2)`. With it, a burst of 64
/// responses leaves in one system call, at the cost of one loop hop on an idle connection.
final class FlushCoalescingHandler: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushScheduled = false
            context.flush()
        }
    }
}
