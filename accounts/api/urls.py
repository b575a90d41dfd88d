from django.urls import path

from accounts.api import views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="auth-register"),
    path("token/", views.TokenObtainView.as_view(), name="auth-token"),
    path("token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("token/verify/", views.TokenVerifyView.as_view(), name="auth-token-verify"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("password/", views.PasswordChangeView.as_view(), name="auth-password"),
    path("me/", views.MeView.as_view(), name="auth-me"),
]
