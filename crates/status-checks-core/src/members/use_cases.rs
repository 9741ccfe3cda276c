//! The use cases of `/projects/:id/members`: list, read, add, change and remove members, never above the
//! caller's own level and never leaving a project without an Owner.

use crate::access::AccessLevel;
use crate::error::{DomainError, Resource};
use crate::ids::UserId;
use crate::members::{Member, NewMemberInput};
use crate::pagination::{Page, PageRequest};
use crate::policy::{self, Actor, ProjectAction};
use crate::projects::ProjectRef;
use crate::service::{DomainResult, Params, ProjectAccess, StatusChecksService};

impl StatusChecksService {
    /// `GET /projects/:id/members`.
    pub async fn list_members(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        page: PageRequest,
    ) -> DomainResult<Page<Member>> {
        let access = self
            .project_for(actor, reference, ProjectAction::ReadMembers)
            .await?;
        Ok(self
            .ports
            .members
            .list_members(access.project.id, page)
            .await?)
    }

    /// `GET /projects/:id/members/:user_id`.
    pub async fn get_member(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        user: UserId,
    ) -> DomainResult<Member> {
        let access = self
            .project_for(actor, reference, ProjectAction::ReadMembers)
            .await?;
        self.ports
            .members
            .find_member(access.project.id, user)
            .await?
            .ok_or(DomainError::NotFound(Resource::Member))
    }

    /// `POST /projects/:id/members` (Maintainer+, never above one's own level).
    pub async fn add_member(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<NewMemberInput>,
    ) -> DomainResult<Member> {
        let (access, input) = self
            .project_write(actor, reference, params, ProjectAction::ManageMembers)
            .await?;
        if self.ports.users.find_user(input.user_id).await?.is_none() {
            return Err(DomainError::NotFound(Resource::User));
        }
        if !policy::may_change_member(
            actor,
            access.level,
            input.user_id,
            None,
            Some(input.access_level),
        ) {
            return Err(DomainError::Forbidden);
        }
        self.ports
            .members
            .add_member(
                access.project.id,
                input.user_id,
                input.access_level,
                self.now(),
            )
            .await
            .map_err(|e| e.refusal(DomainError::NotFound(Resource::User)))
    }

    /// `PUT /projects/:id/members/:user_id` (Maintainer+; the last Owner cannot be demoted).
    pub async fn update_member(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        user: UserId,
        params: Params<AccessLevel>,
    ) -> DomainResult<Member> {
        let (access, level) = self
            .project_write(actor, reference, params, ProjectAction::ManageMembers)
            .await?;
        self.check_member_change(actor, &access, user, Some(level))
            .await?;
        self.ports
            .members
            .update_member(access.project.id, user, level)
            .await
            .map_err(|e| e.refusal(DomainError::NotFound(Resource::Member)))
    }

    /// `DELETE /projects/:id/members/:user_id` (Maintainer+, or oneself; the last Owner stays).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        user: UserId,
    ) -> DomainResult<()> {
        Self::require_write(actor)?;
        let access = self.visible_project(actor, reference).await?;
        if user != actor.user_id {
            Self::authorize(actor, &access, ProjectAction::ManageMembers)?;
        }
        self.check_member_change(actor, &access, user, None).await?;
        let gone = DomainError::NotFound(Resource::Member);
        match self
            .ports
            .members
            .remove_member(access.project.id, user)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(gone),
            Err(e) => Err(e.refusal(gone)),
        }
    }

    /// Whether the caller may change `user`'s level to `to` (`None`: remove them): 404 if not a member, 403
    /// if the policy refuses (never above one's own level).
    async fn check_member_change(
        &self,
        actor: &Actor,
        access: &ProjectAccess,
        user: UserId,
        to: Option<AccessLevel>,
    ) -> DomainResult<()> {
        let member = self
            .ports
            .members
            .find_member(access.project.id, user)
            .await?
            .ok_or(DomainError::NotFound(Resource::Member))?;
        if policy::may_change_member(actor, access.level, user, Some(member.access_level), to) {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }
}
