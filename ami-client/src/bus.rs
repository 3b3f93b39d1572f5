//! Event fan-out to subscribers. Publishing never waits for a subscriber: a subscriber whose
//! buffer is full misses the newest events, and is told exactly how many, in stream order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::event::Event;

/// Why [`EventReceiver::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The subscriber fell behind; this many events were dropped at this point of the stream.
    #[error("event subscriber fell behind and missed {missed} events")]
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
    /// The client was closed and every buffered event was received.
    #[error("event stream closed")]
    Closed,
}

#[derive(Debug)]
enum Item {
    Event(Event),
    Missed(u64),
}

#[derive(Debug, Default)]
struct Shared {
    items: VecDeque<Item>,
    /// Events (not markers) in `items`.
    events: usize,
    closed: bool,
}

#[derive(Debug, Default)]
struct Queue {
    shared: Mutex<Shared>,
    notify: Notify,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic elsewhere while holding the lock leaves plain data: keep going.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The publishing side, owned by the client.
#[derive(Debug)]
pub(crate) struct EventBus {
    subscribers: Mutex<Vec<Arc<Queue>>>,
    capacity: usize,
}

impl EventBus {
    /// A bus whose subscribers each buffer up to `capacity` unread events.
    pub(crate) fn new(capacity: usize) -> Self {
        EventBus {
            subscribers: Mutex::new(Vec::new()),
            capacity: capacity.max(1),
        }
    }

    fn subscribers(&self) -> MutexGuard<'_, Vec<Arc<Queue>>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscriber that receives every event published from now on.
    pub(crate) fn subscribe(&self) -> EventReceiver {
        let queue = Arc::new(Queue::default());
        self.subscribers().push(queue.clone());
        EventReceiver {
            queue,
            local: VecDeque::new(),
        }
    }

    /// Delivers `events` (emptied) to every subscriber; returns whether some subscriber
    /// has unread events, so the publisher can yield to let it run.
    pub(crate) fn publish(&self, events: &mut Vec<Event>) -> bool {
        let mut subscribers = self.subscribers();
        // A queue only the bus still holds belongs to a dropped receiver.
        subscribers.retain(|q| Arc::strong_count(q) > 1);
        let mut backlog = false;
        let count = subscribers.len();
        for (index, queue) in subscribers.iter().enumerate() {
            let mut shared = queue.lock();
            if index + 1 == count {
                for event in events.drain(..) {
                    push(&mut shared, event, self.capacity);
                }
            } else {
                for event in events.iter() {
                    push(&mut shared, event.clone(), self.capacity);
                }
            }
            backlog |= !shared.items.is_empty();
            drop(shared);
            queue.notify.notify_one();
        }
        events.clear();
        backlog
    }

    /// Ends every subscriber's stream after its buffered events.
    pub(crate) fn close(&self) {
        for queue in self.subscribers().drain(..) {
            queue.lock().closed = true;
            queue.notify.notify_one();
        }
    }
}

fn push(shared: &mut Shared, event: Event, capacity: usize) {
    if shared.events < capacity {
        shared.items.push_back(Item::Event(event));
        shared.events += 1;
        return;
    }
    match shared.items.back_mut() {
        Some(Item::Missed(n)) => *n += 1,
        _ => shared.items.push_back(Item::Missed(1)),
    }
}

/// A subscription to the events of a client, across reconnects. Get one with
/// [`crate::Client::subscribe`].
#[derive(Debug)]
pub struct EventReceiver {
    queue: Arc<Queue>,
    /// Events taken from the shared queue in one go, served without locking.
    local: VecDeque<Item>,
}

impl EventReceiver {
    /// The next event; `Err(Lagged)` where events were lost, `Err(Closed)` at the end.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        loop {
            if let Some(result) = self.try_recv_inner() {
                return result;
            }
            self.queue.notify.notified().await;
        }
    }

    /// The next event if one is buffered, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Event, RecvError>> {
        self.try_recv_inner()
    }

    fn try_recv_inner(&mut self) -> Option<Result<Event, RecvError>> {
        if self.local.is_empty() {
            let mut shared = self.queue.lock();
            if shared.items.is_empty() {
                return shared.closed.then_some(Err(RecvError::Closed));
            }
            std::mem::swap(&mut self.local, &mut shared.items);
            shared.events = 0;
        }
        match self.local.pop_front()? {
            Item::Event(event) => Some(Ok(event)),
            Item::Missed(missed) => Some(Err(RecvError::Lagged { missed })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn events(range: std::ops::Range<u32>) -> Vec<Event> {
        range
            .map(|i| {
                Event::new(
                    Arc::from("t"),
                    Message::new()
                        .with("Event", "Test")
                        .with("N", i.to_string()),
                )
            })
            .collect()
    }

    fn n(result: Option<Result<Event, RecvError>>) -> Result<String, RecvError> {
        result
            .expect("an item")
            .map(|e| e.get("N").unwrap_or_default().to_owned())
    }

    #[test]
    fn full_subscriber_is_told_exactly_what_it_missed_in_order() {
        let bus = EventBus::new(3);
        let mut rx = bus.subscribe();
        bus.publish(&mut events(0..5));
        bus.publish(&mut events(5..7));
        assert_eq!(n(rx.try_recv()), Ok("0".into()));
        assert_eq!(n(rx.try_recv()), Ok("1".into()));
        assert_eq!(n(rx.try_recv()), Ok("2".into()));
        assert_eq!(n(rx.try_recv()), Err(RecvError::Lagged { missed: 4 }));
        assert!(rx.try_recv().is_none());
        bus.publish(&mut events(7..8));
        assert_eq!(n(rx.try_recv()), Ok("7".into()));
    }

    #[test]
    fn every_subscriber_gets_every_event_and_closed_at_the_end() {
        let bus = EventBus::new(100);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(&mut events(0..2));
        bus.close();
        for rx in [&mut a, &mut b] {
            assert_eq!(n(rx.try_recv()), Ok("0".into()));
            assert_eq!(n(rx.try_recv()), Ok("1".into()));
            assert_eq!(n(rx.try_recv()), Err(RecvError::Closed));
        }
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let bus = EventBus::new(10);
        let rx = bus.subscribe();
        drop(rx);
        let mut batch = events(0..3);
        assert!(!bus.publish(&mut batch));
        assert!(batch.is_empty());
        assert!(bus.subscribers().is_empty());
    }
}
