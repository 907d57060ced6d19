import { Component, inject, signal } from '@angular/core';
import { Router } from '@angular/router';
import { errorMessage } from './api';
import { AuthService } from './auth.service';

@Component({
  selector: 'app-login',
  template: `
    <h2>Log in</h2>
    <form (submit)="submit($event, email.value, password.value)">
      <label for="email">Email</label>
      <input #email id="email" type="email" autocomplete="username" required />
      <label for="password">Password</label>
      <input #password id="password" type="password" autocomplete="current-password" required />
      <button type="submit" [disabled]="busy()">Log in</button>
    </form>
    @if (error()) {
      <p class="error" role="status">{{ error() }}</p>
    }
  `,
})
export class LoginPage {
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  protected readonly busy = signal(false);
  protected readonly error = signal('');

  submit(event: Event, email: string, password: string): void {
    event.preventDefault();
    this.busy.set(true);
    this.error.set('');
    this.auth.login(email.trim(), password).subscribe({
      next: () => void this.router.navigate(['/']),
      error: (err: unknown) => {
        this.error.set(errorMessage(err));
        this.busy.set(false);
      },
    });
  }
}
