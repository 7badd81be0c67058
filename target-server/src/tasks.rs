//! In-memory task store and bearer-token check behind the `/api/tasks` routes.

use std::collections::VecDeque;
use std::sync::Mutex;

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};

/// Tasks present when a server starts.
const SEED_TASKS: u64 = 20;
/// Most tasks one list response returns (the newest ones).
pub(crate) const LIST_LIMIT: usize = 20;
/// Oldest tasks are forgotten beyond this, so a long load test creating tasks
/// cannot grow the target's memory without bound.
const MAX_TASKS: usize = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) done: bool,
}

#[derive(Debug)]
pub(crate) struct TaskStore {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    // Ordered by ascending id, because ids are only ever appended.
    tasks: VecDeque<Task>,
    next_id: u64,
}

impl Default for TaskStore {
    fn default() -> Self {
        let tasks = (1..=SEED_TASKS)
            .map(|id| Task {
                id,
                title: format!("Task {id}"),
                done: id.is_multiple_of(3),
            })
            .collect();
        Self {
            inner: Mutex::new(Inner {
                tasks,
                next_id: SEED_TASKS + 1,
            }),
        }
    }
}

impl TaskStore {
    /// The newest [`LIST_LIMIT`] tasks, oldest first.
    pub(crate) fn list(&self) -> Vec<Task> {
        let inner = self.lock();
        let skip = inner.tasks.len().saturating_sub(LIST_LIMIT);
        inner.tasks.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn get(&self, id: u64) -> Option<Task> {
        let inner = self.lock();
        inner
            .tasks
            .binary_search_by_key(&id, |task| task.id)
            .ok()
            .map(|index| inner.tasks[index].clone())
    }

    pub(crate) fn create(&self, title: String) -> Task {
        let mut inner = self.lock();
        let task = Task {
            id: inner.next_id,
            title,
            done: false,
        };
        inner.next_id += 1;
        if inner.tasks.len() >= MAX_TASKS {
            inner.tasks.pop_front();
        }
        inner.tasks.push_back(task.clone());
        task
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The token `POST /login` hands out for `username`.
pub(crate) fn token_for(username: &str) -> String {
    format!("tok-{username}")
}

/// Whether the `Authorization` header carries a token issued by `/login`.
pub(crate) fn is_authorized(headers: &HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|token| token.starts_with(b"tok-"))
}
