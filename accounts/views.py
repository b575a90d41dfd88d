"""Dashboard pages for accounts: sign-up, log-in, log-out, password change."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts.forms import EmailAuthenticationForm, RevokingPasswordChangeForm, SignUpForm
from accounts.services import user_confirm_email, user_from_confirm_link
from accounts.throttling import throttle_wait, throttled_message


def _throttled(
    request: HttpRequest, template: str, context: dict[str, Any], seconds: int
) -> HttpResponse:
    """The form again, unbound (nothing is checked), with a 429 and when to retry."""
    context = {**context, "throttled": throttled_message(seconds)}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _refill(data: Any, *fields: str) -> dict[str, Any]:
    """What the user typed, minus passwords, to show in the re-rendered form."""
    return {name: data.get(name, "") for name in fields}


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("overview")
    if request.method == "POST" and (wait := throttle_wait(request, scope="register")):
        form = SignUpForm(initial=_refill(request.POST, "name", "email"))
        return _throttled(request, "registration/signup.html", {"form": form}, wait)
    form = SignUpForm(request.POST or None)
    site_url = request.build_absolute_uri("/")
    if request.method == "POST" and form.is_valid() and form.register(site_url=site_url):
        return redirect("signup_sent")
    return render(request, "registration/signup.html", {"form": form})


@require_http_methods(["GET"])
def signup_sent(request: HttpRequest) -> HttpResponse:
    """The one answer to every accepted sign-up, whether or not the address had an account."""
    return render(request, "registration/signup_sent.html")


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Confirm the address from the mailed link: a button (POST), so a mail scanner's GET
    cannot spend the link; then log the new user in."""
    if request.method == "POST":
        user = user_confirm_email(uidb64=uidb64, token=token)
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to algosaas — your paper account is ready.")
            return redirect("overview")
        valid = False
    else:
        valid = user_from_confirm_link(uidb64=uidb64, token=token) is not None
    return render(
        request, "registration/signup_confirm.html", {"valid": valid}, status=200 if valid else 400
    )


class LoginView(auth_views.LoginView):
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Spend the "login" throttle (shared with the API) before any password is checked."""
        if wait := throttle_wait(request, scope="login"):
            form = self.authentication_form(request, initial=_refill(request.POST, "username"))
            return _throttled(request, self.template_name, self.get_context_data(form=form), wait)
        return super().post(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("landing")


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = RevokingPasswordChangeForm
    success_url = reverse_lazy("password_change_done")
