//! Users: never cached themselves, but a deletion takes the user's tokens and memberships with it.

use crate::caches::Caches;
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::UserId;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, UserRepository};
use status_checks_core::users::{NewUser, User};
use std::sync::Arc;

pub(crate) struct CachedUsers {
    pub(crate) inner: Arc<dyn UserRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl UserRepository for CachedUsers {
    async fn create_user(&self, new: NewUser) -> RepoResult<User> {
        self.inner.create_user(new).await
    }

    async fn find_user(&self, id: UserId) -> RepoResult<Option<User>> {
        self.inner.find_user(id).await
    }

    async fn find_user_by_username(&self, username: &str) -> RepoResult<Option<User>> {
        self.inner.find_user_by_username(username).await
    }

    async fn list_users(
        &self,
        username: Option<String>,
        page: PageRequest,
    ) -> RepoResult<Page<User>> {
        self.inner.list_users(username, page).await
    }

    async fn delete_user(&self, id: UserId) -> RepoResult<bool> {
        let result = self.inner.delete_user(id).await;
        self.caches.forget_everywhere(Invalidation::Users).await;
        result
    }
}
