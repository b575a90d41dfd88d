"""Dashboard forms for sign-up, log-in and password changes."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AuthenticationForm,
    PasswordChangeForm,
)
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import (
    EMAIL_MAX_LENGTH,
    EMAIL_TOO_LONG,
    password_problems,
    user_register,
    user_set_password,
)


class SignUpForm(forms.Form):
    # autocomplete tokens let browsers and password managers fill the form and offer to
    # generate and save a strong password for the new account.
    name = forms.CharField(
        max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False
    )

    def clean(self):
        """Judge the password's strength whatever else is wrong, with the email if it is valid.

        The service checks it too, but only a valid form reaches the service: a weak password
        next to a mistyped address would otherwise show only in a second round.
        """
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            person = User(email=cleaned.get("email") or "", name=cleaned.get("name") or "")
            for problem in password_problems(password, user=person):
                self.add_error("password", problem)
        return cleaned

    def register(self, *, site_url: str) -> bool:
        """Start the sign-up through the service; map its field errors onto the form.

        True once the confirmation (or the owner's notice) is mailed: which one, the page
        must not tell.
        """
        try:
            user_register(**self.cleaned_data, site_url=site_url)
        except ValidationError as e:
            for field, messages in e.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return False
        return True


class EmailLoginMixin:
    """Authenticate with ``email=`` (AXES_USERNAME_FORM_FIELD), lower-cased as stored.

    Given ``username=``, django-axes would record every failure under no username at all while
    its lockout check looks them up under the email, so the lockout would never trigger.
    """

    def clean_username(self):
        # AuthenticationForm sets the field's max_length after the field is built, which adds
        # no validator; an over-long address reached django-axes' 255-character column (a 500).
        username = self.cleaned_data["username"]
        if len(username) > EMAIL_MAX_LENGTH:
            raise ValidationError(EMAIL_TOO_LONG, code="max_length")
        return username

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            self.user_cache = authenticate(
                self.request, email=email.strip().lower(), password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class EmailAuthenticationForm(EmailLoginMixin, AuthenticationForm):
    # "username" (not "email"): the token password managers pair with current-password.
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class AdminEmailAuthenticationForm(EmailLoginMixin, AdminAuthenticationForm):
    """The admin's log-in form, with the same lockout-safe authentication."""


class PasswordSavedByServiceMixin:
    """Save through ``user_set_password`` so the change also revokes the user's refresh tokens.

    Django's password forms all save through ``set_password_and_save``; this replaces it.
    """

    def set_password_and_save(  # nosec B107 # a field's name in Django's signature
        self,
        user,
        password_field_name="password1",  # noqa: S107
        commit=True,
    ):
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data[password_field_name] if usable else None
        return user_set_password(user=user, password=password)


class RevokingPasswordChangeForm(PasswordSavedByServiceMixin, PasswordChangeForm):
    """The dashboard's password change.

    Django judges the new password's strength on the confirmation field, so a confirmation
    that does not match hid a weak password; then it is judged on the first field instead.
    """

    def clean(self):
        cleaned = super().clean()
        if "new_password2" in self.errors and cleaned.get("new_password1"):
            self.validate_password_for_user(self.user, "new_password1")
        return cleaned


class RevokingAdminPasswordChangeForm(PasswordSavedByServiceMixin, AdminPasswordChangeForm):
    """The admin's "set password" form for an operator."""
