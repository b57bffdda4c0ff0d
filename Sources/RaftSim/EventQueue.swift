/// A min-heap of timed events; ties keep insertion order, so runs are reproducible.
struct EventQueue<Event> {
    private var heap: [(time: Int, sequence: Int, event: Event)] = []
    private var sequence = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(at time: Int, _ event: Event) {
        sequence += 1
        heap.append((time, sequence, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Time of the earliest event.
    var nextTime: Int? { heap.first?.time }

    mutating func pop() -> (time: Int, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, Self.less(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, Self.less(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.event)
    }

    private static func less(
        _ a: (time: Int, sequence: Int, event: Event), _ b: (time: Int, sequence: Int, event: Event)
    ) -> Bool {
        (a.time, a.sequence) < (b.time, b.sequence)
    }
}
