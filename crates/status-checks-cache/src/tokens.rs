//! Tokens: the lookup by hash that authenticates every request is cached (hits only: a token not found
//! is asked again, so a token created elsewhere works at once).

use crate::caches::Caches;
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, TokenRepository, TokenWithOwner};
use status_checks_core::users::{NewToken, PersonalAccessToken, TokenHash};
use status_checks_core::{TokenId, UserId};
use std::sync::Arc;

pub(crate) struct CachedTokens {
    pub(crate) inner: Arc<dyn TokenRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl TokenRepository for CachedTokens {
    async fn create_token(&self, new: NewToken) -> RepoResult<PersonalAccessToken> {
        self.inner.create_token(new).await
    }

    async fn find_token_by_hash(&self, hash: &TokenHash) -> RepoResult<Option<TokenWithOwner>> {
        let cache = &self.caches.tokens;
        let key = hash.as_str().to_owned();
        if let Some(hit) = cache.get(&key) {
            return Ok(Some(hit));
        }
        let generation = cache.generation();
        let found = self.inner.find_token_by_hash(hash).await?;
        if let Some(found) = &found {
            cache.put(key, found.clone(), generation);
        }
        Ok(found)
    }

    async fn find_token(&self, id: TokenId) -> RepoResult<Option<PersonalAccessToken>> {
        self.inner.find_token(id).await
    }

    async fn list_tokens(
        &self,
        user: Option<UserId>,
        page: PageRequest,
    ) -> RepoResult<Page<PersonalAccessToken>> {
        self.inner.list_tokens(user, page).await
    }

    async fn revoke_token(&self, id: TokenId) -> RepoResult<bool> {
        let result = self.inner.revoke_token(id).await;
        self.caches.forget_everywhere(Invalidation::Tokens).await;
        result
    }
}
